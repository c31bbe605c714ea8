package vault

import (
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

// TestCoverWatchEvents: a gzipped trace and the same trace plain give the
// same alerts; malformed lines are counted with the first reason; a
// missing file and a file that only looks gzipped are refused with advice.
func TestCoverWatchEvents(t *testing.T) {
	const trace = "../watch/testdata/trace-seed1.jsonl.gz"
	gz, err := WatchEvents(trace, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gz.Bad != 0 || gz.FirstBad != "" || len(gz.Alerts) == 0 {
		t.Fatalf("trace: %d alerts, bad %d (%q)", len(gz.Alerts), gz.Bad, gz.FirstBad)
	}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	fromStdin, err := WatchEvents("-", strings.NewReader(string(plain)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gz, fromStdin); diff != "" {
		t.Errorf("plain stdin vs gzipped file (-gz +plain):\n%s", diff)
	}

	rep, err := WatchEvents("-", strings.NewReader("\n{\"kind\":\"read\"}\nnot json\n{\"time\":\"2026-01-01T00:00:00Z\",\"kind\":\"read\",\"dataset\":\"d\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &EventsReplay{Alerts: rep.Alerts, Bad: 2, FirstBad: "malformed event: no time"}
	if diff := cmp.Diff(want, rep); diff != "" || len(rep.Alerts) != 0 {
		t.Errorf("replay (-want +got):\n%s", diff)
	}

	missing := filepath.Join(t.TempDir(), "none.jsonl")
	_, err = WatchEvents(missing, nil)
	wantCode(t, err, hint.CodeError, "open "+missing+": no such file or directory", "give a JSON-lines event file, or - for standard input")
	_, err = WatchEvents("-", strings.NewReader("\x1f\x8bnot gzip"))
	wantCode(t, err, hint.CodeError, "gzip: invalid header", "the events file looks gzipped but is not readable as gzip")
}

// TestCoverServeWatchMetrics: the exporter's families are served at
// /metrics until stop; a bad address is refused with advice.
func TestCoverServeWatchMetrics(t *testing.T) {
	_, err := ServeWatchMetrics("127.0.0.1:99999", watchman.NewExporter())
	wantCode(t, err, hint.CodeError, "listen tcp: address 99999: invalid port", "choose a free host:port for --metrics")

	exp := watchman.NewExporter()
	exp.Update(watchman.Snapshot{})
	addr := freeAddr(t)
	stop, err := ServeWatchMetrics(addr, exp)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "\nembassy_watch_") {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	stop()
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Fatal("still serving after stop")
	}
}

// freeAddr is a loopback address nothing listens on (for servers that
// take an address, not a listener).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
