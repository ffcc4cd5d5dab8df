// Command mcphub runs the MCP gateway: it connects to the configured MCP
// servers and serves their tools over REST (OpenAI function schemas).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcphub/mcphub"
	"github.com/mcphub/mcphub/pkg/app"
	"github.com/mcphub/mcphub/pkg/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// shutdownTimeout bounds a graceful stop: in-flight calls, then children.
const shutdownTimeout = 15 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isCommand(args[0]) { // mcphub servers, call, config validate, ... (cli.go)
		return runCLI(args, stdout, stderr)
	}
	fs := pflag.NewFlagSet("mcphub", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { serveUsage(fs) }
	configs := fs.StringArrayP("config", "c", nil, "config file (repeatable: files merge in order, later wins)")
	listen := fs.String("listen", "", "listen address (default "+config.DefaultListen+", or the config's listen)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "text", "log format: text (logfmt) or json (one object a line)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	insecure := fs.Bool("insecure-no-auth", false, "allow a non-loopback listen address without auth tokens")
	pprofAddr := fs.String("pprof", "", "serve Go's runtime profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060 (default off)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		// ContinueOnError makes pflag print nothing: say what was wrong.
		fmt.Fprintf(stderr, "mcphub: %v\nRun 'mcphub --help' for usage.\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		// A forgotten -c would otherwise be ignored silently and the search run instead.
		fmt.Fprintf(stderr, "mcphub: unexpected argument %q (give config files with -c)\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "mcphub", versionString())
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "mcphub: --log-level: %v\n", err)
		return 2
	}
	logOpts := &slog.HandlerOptions{Level: level}
	var logHandler slog.Handler
	switch strings.ToLower(*logFormat) {
	case "text":
		logHandler = slog.NewTextHandler(stderr, logOpts)
	case "json":
		logHandler = slog.NewJSONHandler(stderr, logOpts)
	default:
		fmt.Fprintf(stderr, "mcphub: --log-format: %q is not text or json\n", *logFormat)
		return 2
	}
	// app.New adds the request id to every line logged with a request's
	// context.
	log := slog.New(logHandler)

	files, found, err := config.Find(*configs, os.LookupEnv, ".")
	if err != nil {
		fmt.Fprintf(stderr, "mcphub: %v\n", err)
		return 1
	}
	load := func(ctx context.Context) (*config.Config, error) { return config.LoadContext(ctx, files) }
	var cfg *config.Config
	if found {
		// Bounded like config validate: a ${cmd:…} placeholder that never
		// exits must not hang the start.
		ctx, cancel := context.WithTimeout(context.Background(), configLoadTimeout)
		cfg, err = load(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "mcphub: invalid configuration:\n%v\n", err)
			return 1
		}
		log.Info("configuration loaded", "files", strings.Join(cfg.Files, ","), "servers", len(cfg.Servers))
	} else {
		// The default config, with the token from MCPHUB_API_TOKEN as Load
		// would add it (or auth would silently stay off), validated.
		var l config.Loader
		if cfg, err = l.Default(); err != nil {
			fmt.Fprintf(stderr, "mcphub: invalid configuration:\n%v\n", err)
			return 1
		}
		load = nil
		log.Warn("no config file found (looked for -c, "+searchedFiles()+"); using the default server",
			"server", "local", "endpoint", config.DefaultLocalEndpoint)
	}

	// Catch signals before "mcphub listening" is logged: a supervisor (or a
	// test) that signals as soon as it sees that line must not hit the
	// default action, which for SIGHUP and SIGTERM kills the process and
	// leaves its stdio children behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	a, err := app.New(cfg, app.Options{Logger: log, Load: load, Listen: *listen, OpenAPI: mcphub.OpenAPI, Version: version, InsecureNoAuth: *insecure, Pprof: *pprofAddr})
	if err != nil {
		fmt.Fprintf(stderr, "mcphub: %v\n", err)
		return 1
	}
	if err := a.Start(); err != nil {
		fmt.Fprintf(stderr, "mcphub: %v\n", err)
		_ = a.Stop(context.Background())
		return 1
	}

	code := 0
	// A reload runs beside the signal loop, so SIGTERM is handled at once;
	// stopping cancels a reload in progress and waits for it.
	reloadCtx, cancelReloads := context.WithCancel(context.Background())
	var reloads sync.WaitGroup
	reloading := make(chan struct{}, 1) // one reload at a time; more SIGHUPs meanwhile coalesce
	defer func() {
		cancelReloads()
		reloads.Wait()
	}()
loop:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				select {
				case reloading <- struct{}{}:
				default:
					log.Info("SIGHUP: a reload is already running")
					continue
				}
				reloads.Go(func() {
					defer func() { <-reloading }()
					ctx, cancel := context.WithTimeout(reloadCtx, time.Minute)
					defer cancel()
					rep := a.Reload(ctx)
					log.Info("SIGHUP: reload", "error", rep.Error, "added", rep.Added, "removed", rep.Removed, "restarted", rep.Restarted)
				})
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			break loop
		case err := <-a.Wait():
			if err != nil {
				log.Error("http server failed", "err", err)
				code = 1
			}
			break loop
		}
	}
	cancelReloads()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		log.Error("shutdown", "err", err)
		code = 1
	}
	return code
}

func versionString() string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(version, info)
}

// formatVersion is the version line: the version stamped by -ldflags, else
// the module's (go install …@v1.2.3, or Go's pseudo-version of a checkout),
// then the commit and whether the tree had changes, unless the version
// already names the commit (a pseudo-version does).
func formatVersion(stamped string, info *debug.BuildInfo) string {
	v := stamped
	var commit string
	var modified bool
	if info != nil {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	switch {
	case commit == "" || strings.Contains(v, commit):
		return v
	case modified:
		return v + " (" + commit + ", modified)"
	default:
		return v + " (" + commit + ")"
	}
}
