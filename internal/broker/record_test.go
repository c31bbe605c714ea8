package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// fakeLog sequences at once; cosigning fails while fail is set.
type fakeLog struct {
	mu   sync.Mutex
	fail error
	n    uint64
	ents []tlog.Entry
}

func (l *fakeLog) AppendDurable(_ context.Context, e tlog.Entry) (uint64, func(context.Context) ([]byte, error), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.ents = append(l.ents, e)
	fail := l.fail
	return l.n, func(context.Context) ([]byte, error) { return nil, fail }, nil
}

func TestTlogRecorderStopsReleasesWhileWitnessesFail(t *testing.T) {
	fl := &fakeLog{}
	r := NewTlogRecorder(context.Background(), fl, nil)
	rel := tlog.Entry{V: 1, Kind: KindKeyRelease, Time: time.Now()}
	ref := tlog.Entry{V: 1, Kind: KindKeyRefuse, Time: time.Now()}
	if err := r.Record(context.Background(), rel); err != nil {
		t.Fatal(err)
	}
	fl.fail = errors.New("witness down")
	r.Record(context.Background(), rel)
	if r.Wait() == nil {
		t.Fatal("witness failure not reported")
	}
	if err := r.Record(context.Background(), rel); err == nil {
		t.Fatal("a release was recorded while the witnesses fail")
	}
	if err := r.Record(context.Background(), ref); err != nil {
		t.Fatalf("refusals must still be logged: %v", err)
	}
	fl.fail = nil
	r.Record(context.Background(), ref)
	r.Wait()
	if err := r.Record(context.Background(), rel); err != nil {
		t.Fatalf("after the witnesses recovered: %v", err)
	}
	if n := len(fl.ents); n != 5 {
		t.Fatalf("%d entries appended, want 5 (the refused release is not)", n)
	}
}
