package crashpoint

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, name, action string
		n                int64
		bad              bool
	}{
		{in: "repo.index", name: "repo.index", n: 1, action: "kill"},
		{in: "repo.put@3", name: "repo.put", n: 3, action: "kill"},
		{in: "repo.put@3:exit", name: "repo.put", n: 3, action: "exit"},
		{in: "rotate.commit:pause", name: "rotate.commit", n: 1, action: "pause"},
		{in: "x@0", bad: true},
		{in: "x@y", bad: true},
		{in: "x:explode", bad: true},
		{in: ":kill", bad: true},
	} {
		name, n, action, err := Parse(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("Parse(%q): err %v, want bad=%v", tc.in, err, tc.bad)
			continue
		}
		if !tc.bad && (name != tc.name || n != tc.n || action != tc.action) {
			t.Errorf("Parse(%q) = %q %d %q, want %q %d %q", tc.in, name, n, action, tc.name, tc.n, tc.action)
		}
	}
}

// TestHitInChild runs this test binary as a child that hits "a.b" three
// times: armed for the second hit, the child dies there (by SIGKILL, or
// exits with Code) after announcing it, and never reaches the third.
func TestHitInChild(t *testing.T) {
	if os.Getenv("CRASHPOINT_CHILD") == "1" {
		for i := 1; i <= 3; i++ {
			os.Stdout.WriteString("before " + string(rune('0'+i)) + "\n")
			Hit("other")
			Hit("a.b")
		}
		os.Stdout.WriteString("survived\n")
		return
	}
	for _, tc := range []struct {
		spec string
		kill bool
	}{{"a.b@2", true}, {"a.b@2:exit", false}} {
		c := exec.Command(os.Args[0], "-test.run", "^TestHitInChild$")
		c.Env = append(os.Environ(), "CRASHPOINT_CHILD=1", Env+"="+tc.spec)
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: child did not die: %v\n%s", tc.spec, err, out.String())
		}
		ws := ee.Sys().(syscall.WaitStatus)
		if tc.kill && (!ws.Signaled() || ws.Signal() != syscall.SIGKILL) {
			t.Errorf("%s: child ended by %v, want SIGKILL", tc.spec, ws)
		}
		if !tc.kill && ee.ExitCode() != Code {
			t.Errorf("%s: exit %d, want %d", tc.spec, ee.ExitCode(), Code)
		}
		if !strings.Contains(errb.String(), Banner+"a.b@2\n") {
			t.Errorf("%s: no announcement on stderr: %q", tc.spec, errb.String())
		}
		if got := out.String(); !strings.Contains(got, "before 2") || strings.Contains(got, "before 3") || strings.Contains(got, "survived") {
			t.Errorf("%s: child stopped at the wrong hit:\n%s", tc.spec, got)
		}
	}
}

func TestUnarmedIsNoop(t *testing.T) {
	if os.Getenv(Env) != "" {
		t.Skip("EMBASSY_CRASHPOINT is set in the environment")
	}
	Hit("anything") // must return
}
