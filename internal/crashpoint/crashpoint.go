// Package crashpoint lets crash tests stop the real binary at a named
// point of a mutating operation, so a kill lands in a chosen phase
// instead of wherever a random timer happens to fire.
//
// The environment variable EMBASSY_CRASHPOINT names the point:
//
//	EMBASSY_CRASHPOINT=name[@n][:kill|:exit|:pause]
//
// At the n-th (default first) Hit of that name the process announces
// "crashpoint: name@n" on stderr and then, by action:
//
//	kill   (default) sends itself SIGKILL: no defer, no flush, as kill -9
//	exit   os.Exit(Code) without running deferred functions
//	pause  blocks forever, for the test to kill it (or inspect the sites)
//
// Without the variable Hit is one atomic load. Names are dotted
// "package.phase" strings, listed in docs/threats/ci.md; a test asserts
// the announcement, so a renamed or removed point fails its test.
package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Env is the variable that arms a crashpoint.
const Env = "EMBASSY_CRASHPOINT"

// Code is the exit status of the exit action.
const Code = 86

// Banner prefixes the line written to stderr when a point fires.
const Banner = "crashpoint: "

type spec struct {
	name   string
	n      int64
	action string
}

var (
	once  sync.Once
	armed *spec
	hits  atomic.Int64
)

// Parse reads a crashpoint spec (the value of EMBASSY_CRASHPOINT).
func Parse(v string) (name string, n int64, action string, err error) {
	action = "kill"
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		action = v[i+1:]
		v = v[:i]
	}
	n = 1
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		n, err = strconv.ParseInt(v[i+1:], 10, 64)
		if err != nil || n < 1 {
			return "", 0, "", fmt.Errorf("crashpoint %q: count after @ must be a positive number", v)
		}
		v = v[:i]
	}
	switch action {
	case "kill", "exit", "pause":
	default:
		return "", 0, "", fmt.Errorf("crashpoint action %q: use kill, exit or pause", action)
	}
	if v == "" {
		return "", 0, "", fmt.Errorf("crashpoint: empty name")
	}
	return v, n, action, nil
}

func load() {
	v := os.Getenv(Env)
	if v == "" {
		return
	}
	name, n, action, err := Parse(v)
	if err != nil {
		// A mistyped point must not silently never fire.
		fmt.Fprintf(os.Stderr, "error: %s=%q: %v\n", Env, v, err)
		os.Exit(2)
	}
	armed = &spec{name, n, action}
}

// Hit marks the point name. It returns at once unless EMBASSY_CRASHPOINT
// arms this point and this is its n-th hit.
func Hit(name string) {
	once.Do(load)
	s := armed
	if s == nil || s.name != name {
		return
	}
	if hits.Add(1) != s.n {
		return
	}
	fmt.Fprintf(os.Stderr, "%s%s@%d\n", Banner, name, s.n)
	switch s.action {
	case "exit":
		os.Exit(Code)
	case "pause":
		select {}
	default:
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
