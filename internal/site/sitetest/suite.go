// Package sitetest holds the conformance suite every site.Backend must pass,
// and fault-injecting helpers for testing code built on sites.
package sitetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
)

// Run runs the conformance suite. newBackend must return a fresh, empty
// backend for every call; Run closes it when the subtest ends. Backends that
// need external services should skip in newBackend when they are absent.
func Run(t *testing.T, newBackend func(t *testing.T) site.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b site.Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"NestedNames", testNestedNames},
		{"KindsAreSeparate", testKindsSeparate},
		{"Overwrite", testOverwrite},
		{"InvalidHandles", testInvalid},
		{"IfAbsent", testIfAbsent},
		{"IfAbsentConcurrent", testIfAbsentConcurrent},
		{"Ranges", testRanges},
		{"NotFound", testNotFound},
		{"GetCallbackError", testGetCallbackError},
		{"ListStops", testListStops},
		{"ListEmpty", testListEmpty},
		{"ZeroLength", testZeroLength},
		{"Large", testLarge},
		{"FailingPayload", testFailingPayload},
		{"ShortPayload", testShortPayload},
		{"Canceled", testCanceled},
		{"Properties", testProperties},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, b)
		})
	}
}

// Put stores data under h or fails the test.
func Put(t testing.TB, b site.Backend, h site.Handle, data []byte, opts site.PutOptions) {
	t.Helper()
	if err := b.Put(t.Context(), h, site.Bytes(data), opts); err != nil {
		t.Fatalf("Put %v: %v", h, err)
	}
}

// Get reads all of h or fails the test.
func Get(t testing.TB, b site.Backend, h site.Handle) []byte {
	t.Helper()
	data, err := site.ReadAll(t.Context(), b, h)
	if err != nil {
		t.Fatalf("Get %v: %v", h, err)
	}
	return data
}

// Names lists kind k as a set of names or fails the test.
func Names(t testing.TB, b site.Backend, k site.Kind) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := b.List(t.Context(), k, func(fi site.Info) error {
		if fi.Handle.Kind != k {
			return fmt.Errorf("listed %v under kind %v", fi.Handle, k)
		}
		if _, dup := got[fi.Handle.Name]; dup {
			return fmt.Errorf("listed %v twice", fi.Handle)
		}
		got[fi.Handle.Name] = fi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List %v: %v", k, err)
	}
	return got
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func wantAbsent(t *testing.T, b site.Backend, h site.Handle) {
	t.Helper()
	_, err := b.Stat(t.Context(), h)
	wantIs(t, fmt.Sprintf("Stat %v", h), err, site.ErrNotFound)
	if _, ok := Names(t, b, h.Kind)[h.Name]; ok {
		t.Errorf("List shows %v, want it absent", h)
	}
}

func wantContent(t *testing.T, b site.Backend, h site.Handle, want []byte) {
	t.Helper()
	got := Get(t, b, h)
	if !bytes.Equal(got, want) {
		t.Errorf("Get %v: got %d bytes %.16q, want %d bytes %.16q", h, len(got), got, len(want), want)
	}
}

// readAll reads r, for callbacks that must not fail the test from inside Get.
func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func data(seed uint64, n int64) []byte {
	b, _ := io.ReadAll(Gen{Seed: seed, N: n}.NewReader())
	return b
}

var errStop = errors.New("sitetest: stop")
