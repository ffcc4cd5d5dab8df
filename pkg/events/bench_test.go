package events

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

var benchData = map[string]any{"server": "files", "status": "connected", "tools": 12}

// BenchmarkPublish measures Publish with idle and busy buses; each
// subscriber is drained by its own goroutine. "lagged" counts subscribers
// that fell behind by more than their 1024-event queue (Publish does not wait
// for them).
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			bus := NewBus(Options{Logger: quietLogger()})
			subs := make([]*Subscription, n)
			var wg sync.WaitGroup
			for i := range subs {
				subs[i] = bus.Subscribe(0, 1024)
				wg.Add(1)
				go func(s *Subscription) {
					defer wg.Done()
					for range s.C() {
					}
				}(subs[i])
			}
			b.ReportAllocs()
			for b.Loop() {
				bus.Publish(ServerStatus, benchData)
			}
			lagged := 0
			for _, s := range subs {
				if s.Lagged() {
					lagged++
				}
			}
			bus.Close()
			wg.Wait()
			b.ReportMetric(float64(lagged), "lagged")
		})
	}
}

// BenchmarkFanOutHTTP100 measures one event's trip from Publish to all of
// 100 SSE clients over loopback HTTP: each op publishes one event and waits
// until every client has read it.
func BenchmarkFanOutHTTP100(b *testing.B) {
	const clients = 100
	bus := NewBus(Options{Logger: quietLogger()})
	srv := httptest.NewServer(bus.Handler(HandlerOptions{Logger: quietLogger()}))
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr}
	got := make(chan uint64, clients*4) // every id line any client reads
	quit := make(chan struct{})
	var readers sync.WaitGroup
	defer func() {
		close(quit)
		bus.Close() // ends the streams, so the readers see EOF
		readers.Wait()
		srv.Close()
		tr.CloseIdleConnections()
	}()
	for i := 0; i < clients; i++ {
		resp, err := client.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if id, ok := bytes.CutPrefix(sc.Bytes(), []byte("id: ")); ok {
					n, _ := strconv.ParseUint(string(id), 10, 64)
					select {
					case got <- n:
					case <-quit:
						return
					}
				}
			}
		}()
	}
	for i := 0; i < clients; i++ { // every client's stream_start
		<-got
	}

	b.ReportAllocs()
	for b.Loop() {
		ev := bus.Publish(ToolsChanged, benchData)
		for j := 0; j < clients; j++ {
			if id := <-got; id != ev.ID {
				b.Fatalf("a client read id %d, want %d", id, ev.ID)
			}
		}
	}
}
