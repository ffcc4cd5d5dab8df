// Command dep-floor is the memory floor of the libraries the hub is built
// on: a program that links gin, gin-swagger with swag and the Swagger UI
// files (swaggo/files/v2, served from its embedded files as the hub serves
// them), mcp-go's client and server, viper, r3labs/sse and the Prometheus
// client with the Go and process collectors (what the hub's /metrics
// serves), serves an MCP endpoint without tools, the Swagger UI, an event
// stream and /metrics, and does nothing else. mcphub-bench makes a few
// requests to it, then reads its idle RSS beside the hub's, so that the
// hub's figure is read against what those libraries cost by themselves.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/r3labs/sse/v2"
	"github.com/spf13/viper"
	ginSwagger "github.com/swaggo/gin-swagger"
	"github.com/swaggo/swag"

	"github.com/mcphub/mcphub/internal/serveuntil"
	"github.com/mcphub/mcphub/internal/swaggerui"
)

type emptyDoc struct{}

func (emptyDoc) ReadDoc() string {
	return `{"openapi":"3.0.3","info":{"title":"dep-floor","version":"0"},"paths":{}}`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve on")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "dep-floor:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	v := viper.New()
	v.SetDefault("listen", listen)
	swag.Register(swag.Name, emptyDoc{})
	if _, err := client.NewStreamableHttpClient("http://" + listen + "/mcp"); err != nil {
		return err
	}
	events := sse.New()
	events.AutoReplay = false
	events.CreateStream("hub")
	defer events.Close()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	r.GET("/swagger/*any", ginSwagger.WrapHandler(swaggerui.Handler()))
	r.Any("/mcp", gin.WrapH(server.NewStreamableHTTPServer(server.NewMCPServer("dep-floor", "0"))))
	r.GET("/events", gin.WrapF(events.ServeHTTP))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })

	return serveuntil.Signal(&http.Server{Addr: v.GetString("listen"), Handler: r, ReadHeaderTimeout: 10 * time.Second})
}
