package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/compute"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site/remote"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// computeHome sets up a home with the ee-lu agreement carrying the given
// compute section (signed by both parties and installed) and a real
// daemon for site lu-1 serving the host's capacity file; it returns the
// test folder and the home.
func computeHome(t *testing.T, computeYAML, capacityYAML string) (dir, homeDir string) {
	t.Helper()
	t.Setenv("EMBASSY_NOW", "2026-11-20")
	dir, homeDir, _ = setup(t)
	mustRun(t, homeDir, "pki", "init")
	ids := filepath.Join(dir, "lu-ids")
	mustRun(t, homeDir, "pki", "issue", "--role", "site", "--name", "lu-1", "--host", "127.0.0.1", "-o", ids)
	sKey, sPub := demoKey(t, dir, "sending")
	hKey, hPub := demoKey(t, dir, "host")
	src, err := os.ReadFile(filepath.Join(examplesDir, "agreements", "ee-lu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(strings.Replace(string(src), "SENDING_KEY", sPub, 1), "HOST_KEY", hPub, 1) + computeYAML
	ag := filepath.Join(dir, "ee-lu.yaml")
	if err := os.WriteFile(ag, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, homeDir, "agreement", "sign", ag, "--key", sKey, "--role", "sending")
	mustRun(t, homeDir, "agreement", "sign", ag, "--key", hKey, "--role", "host")
	mustRun(t, homeDir, "agreement", "add", ag)
	capFile := filepath.Join(dir, "capacity.yaml")
	if err := os.WriteFile(capFile, []byte(capacityYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startServe(t, dir, ids, "lu-1", "--capacity", capFile).daemon
	mustRun(t, homeDir, "site", "add", "lu-1", "--url", "embassy://"+addr, "--jurisdiction", "LU", "--agreement", "ee-lu")
	return dir, homeDir
}

func computeReport(t *testing.T, homeDir string, code int, args ...string) vault.ComputeReport {
	t.Helper()
	out := mustRunCode(t, homeDir, code, append([]string{"--json", "compute", "check"}, args...)...)
	var rep vault.ComputeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return rep
}

const twoReservations = `compute:
  reservations:
    - name: crisis-llm
      site: lu-1
      accelerator: H100
      gpus: 3
      priority: crisis
    - name: registry-batch
      site: lu-1
      accelerator: H100
      gpus: 2
      cpu-cores: 1
`

// shortEntry is the log entry of a compute check of twoReservations at a
// host with 4 H100s: registry-batch is short one GPU.
func shortEntry(index int) string {
	return fmt.Sprintf(`  {
    "index": %d,
    "v": 1,
    "kind": "compute.check",
    "time": "2026-11-20T00:00:00Z",
    "actor": "home",
    "home": "HOME",
    "site": "lu-1",
    "object": "ee-lu",
    "details": {
      "attested_gpus": "0",
      "breach": "true",
      "crisis": "false",
      "reservations": "2",
      "short": "reservation registry-batch needs 2 H100 GPUs, 1 available (short 1)",
      "shortfalls": "1"
    }
  }`, index)
}

// TestComputeShortfallReported: a host declaring fewer GPUs than the
// agreement reserves there is reported short, per reservation, exit 3,
// and the check is in the log.
func TestComputeShortfallReported(t *testing.T) {
	_, homeDir := computeHome(t, twoReservations, "gpus: [{model: H100, count: 4}]\ncpu-cores: 1\nmemory-gib: 1\n")
	rep := computeReport(t, homeDir, ExitDamaged)
	if len(rep.Sites) != 1 || rep.Crisis {
		t.Fatalf("report %+v", rep)
	}
	s := rep.Sites[0]
	if len(s.Problems) != 0 || len(s.Result.Shortfalls) != 1 {
		t.Fatalf("site %+v", s)
	}
	sh := s.Result.Shortfalls[0]
	if sh.Reservation != "registry-batch" || sh.Resource != "gpu:H100" || sh.Need != 2 || sh.Have != 1 || sh.Deferred {
		t.Fatalf("shortfall %+v", sh)
	}
	expectRun(t, homeDir, ExitDamaged, []string{"compute", "check"}, lines{
		"lu-1 (agreement ee-lu): SHORT",
		"  reservation crisis-llm at lu-1: 3× H100, crisis, may preempt",
		"  reservation registry-batch at lu-1: 2× H100 1 cores, normal",
		"  trusted capacity: 4× H100 (0 attested); 1 CPU core; 1 GiB",
		"  shortfall: reservation registry-batch needs 2 H100 GPUs, 1 available (short 1)",
	}, nil)
	// both checks (--json and text) are in the log, each a breach
	wantLines(t, "log", homeIDs(mustRun(t, homeDir, "--json", "log", "--kind", vault.KindComputeCheck)), text(`
[
`+shortEntry(5)+`,
`+shortEntry(6)+`
]
`))
	// The host adds capacity: the same check passes.
	_, homeDir = computeHome(t, twoReservations, "gpus: [{model: H100, count: 5}]\ncpu-cores: 1\nmemory-gib: 1\n")
	if rep := computeReport(t, homeDir, ExitOK); rep.Breach() {
		t.Fatalf("enough capacity still short: %+v", rep)
	}
}

// TestComputeCrisisPriority: in a crisis the crisis reservation takes the
// GPUs the host's best-effort job holds, which is named for preemption;
// the sending state's declared normal workload keeps its share. A job the
// host claims is the sending state's, but the home never declared, is
// treated as the host's and preempted too.
func TestComputeCrisisPriority(t *testing.T) {
	capacity := `gpus: [{model: H100, count: 5}]
cpu-cores: 1
memory-gib: 1
workloads:
  - {name: host-train, owner: host, accelerator: H100, gpus: 2}
  - {name: fake-ours, owner: sending, reservation: crisis-llm, priority: crisis, accelerator: H100, gpus: 1}
  - {name: nightly-index, owner: sending, reservation: registry-batch, accelerator: H100, gpus: 2}
`
	_, homeDir := computeHome(t, twoReservations, capacity)
	os.WriteFile(filepath.Join(homeDir, vault.WorkloadsFile), []byte(`workloads:
  - {name: nightly-index, site: lu-1, reservation: registry-batch, governing-law: EE, jurisdictions: [LU]}
`), 0o600)
	// Outside a crisis the reservations fit the capacity: nothing preempted.
	if rep := computeReport(t, homeDir, ExitOK); rep.Breach() || len(rep.Sites[0].Result.Preemptions) != 0 {
		t.Fatalf("normal: %+v", rep.Sites[0].Result)
	}
	rep := computeReport(t, homeDir, ExitOK, "--crisis")
	res := rep.Sites[0].Result
	var pre []string
	for _, p := range res.Preemptions {
		pre = append(pre, p.Workload+">"+p.For)
	}
	// Free: 5-5 = 0; crisis-llm needs 3: host-train (2) and fake-ours (1)
	// yield, both best-effort; nightly-index keeps registry-batch's 2.
	if !rep.Crisis || rep.CrisisBy != "--crisis" || !slices.Equal(pre, []string{"host-train>crisis-llm", "fake-ours>crisis-llm"}) || len(res.Shortfalls) != 0 {
		t.Fatalf("crisis: %v %+v", pre, res)
	}
	expectRun(t, homeDir, ExitOK, []string{"compute", "check", "--crisis"}, lines{
		"crisis declared (--crisis): crisis-priority reservations first",
		"lu-1 (agreement ee-lu): ok",
		"  reservation crisis-llm at lu-1: 3× H100, crisis, may preempt",
		"  reservation registry-batch at lu-1: 2× H100 1 cores, normal",
		"  trusted capacity: 5× H100 (0 attested); 1 CPU core; 1 GiB",
		"  preempt host-train (host, best-effort) for crisis-llm",
		"  preempt fake-ours (host, best-effort) for crisis-llm",
		"workload nightly-index at lu-1: allowed",
	}, nil)
	// the normal check, then both crisis checks with the preemptions
	crisisEntry := func(index int) string {
		return fmt.Sprintf(`  {
    "index": %d,
    "v": 1,
    "kind": "compute.check",
    "time": "2026-11-20T00:00:00Z",
    "actor": "home",
    "home": "HOME",
    "site": "lu-1",
    "object": "ee-lu",
    "details": {
      "attested_gpus": "0",
      "breach": "false",
      "crisis": "true",
      "crisis_by": "--crisis",
      "preempt": "host-train for crisis-llm; fake-ours for crisis-llm",
      "reservations": "2",
      "shortfalls": "0"
    }
  }`, index)
	}
	wantLines(t, "log", homeIDs(mustRun(t, homeDir, "--json", "log", "--kind", vault.KindComputeCheck)), text(`
[
  {
    "index": 5,
    "v": 1,
    "kind": "compute.check",
    "time": "2026-11-20T00:00:00Z",
    "actor": "home",
    "home": "HOME",
    "site": "lu-1",
    "object": "ee-lu",
    "details": {
      "attested_gpus": "0",
      "breach": "false",
      "crisis": "false",
      "reservations": "2",
      "shortfalls": "0"
    }
  },
`+crisisEntry(6)+`,
`+crisisEntry(7)+`
]
`))
	// An operate session activated in the log declares the crisis without
	// --crisis, until it is deactivated.
	record := func(event string) {
		v, err := vault.Open(context.Background(), homeDir, false, vault.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if err := v.Recorder().Append(context.Background(), tlog.OperateEntry(tlog.OperateFacts{Event: event, Session: "s-42", By: "custodians 1,3"})); err != nil {
			t.Fatal(err)
		}
	}
	record("activation")
	if rep := computeReport(t, homeDir, ExitOK); !rep.Crisis || rep.CrisisBy != "operate session s-42" || len(rep.Sites[0].Result.Preemptions) != 2 {
		t.Fatalf("open session: %+v", rep)
	}
	record("deactivation")
	if rep := computeReport(t, homeDir, ExitOK); rep.Crisis || len(rep.Sites[0].Result.Preemptions) != 0 {
		t.Fatalf("after deactivation: %+v", rep)
	}
}

// TestHostileOverReportedCapacity: a host claims 8 GPUs and 100000 cores
// and presents a recorded H100 report (genuine, but bound to another
// nonce) twice; the home counts no attested GPU, names the over-report,
// and the attested reservation is short (exit 3).
func TestHostileOverReportedCapacity(t *testing.T) {
	nv := filepath.Join("..", "attest", "testdata", "nvidia")
	rep, _ := filepath.Abs(filepath.Join(nv, "hopperAttestationReport.txt"))
	chain, _ := filepath.Abs(filepath.Join(nv, "hopper_cert_chain_case1.txt"))
	capacity := "gpus: [{model: H100, count: 8}]\ncpu-cores: 100000\nmemory-gib: 1\ngpu-source: recorded\ngpu-evidence:\n" +
		"  - {report: " + rep + ", chain: " + chain + "}\n  - {report: " + rep + ", chain: " + chain + "}\n"
	_, homeDir := computeHome(t, `compute:
  reservations:
    - name: attested-llm
      site: lu-1
      accelerator: H100
      gpus: 2
      priority: crisis
      attested: true
`, capacity)
	out := computeReport(t, homeDir, ExitDamaged)
	s := out.Sites[0]
	if s.Trusted == nil || s.Trusted.Attested.Devices != 0 || len(s.Trusted.Attested.Refusals) != 2 {
		t.Fatalf("trusted %+v", s.Trusted)
	}
	wantLines(t, "over-reports", strings.Join(s.Trusted.OverReport, "\n")+"\n", lines{
		"declares 8 GPUs, evidence verifies for 0",
		fmt.Sprintf("declares 100000 CPU cores, the machine has %d", runtime.NumCPU()),
	})
	if s.Trusted.Capacity.CPUCores != runtime.NumCPU() || s.Trusted.Capacity.GPUs["H100"] != 0 {
		t.Fatalf("capacity not capped: %+v", s.Trusted.Capacity)
	}
	if len(s.Result.Shortfalls) != 1 || s.Result.Shortfalls[0].Need != 2 || s.Result.Shortfalls[0].Have != 0 {
		t.Fatalf("shortfalls %+v", s.Result.Shortfalls)
	}
	// the recorded report is bound to its own nonce, not the home's fresh one
	wantLines(t, "refusals", strings.Join(s.Trusted.Attested.Refusals, "\n")+"\n", lines{
		rx(`gpu0: attestation refused: nvidia: request nonce 931d8dd0add203ac3d8b4fbde75e1152… does not match the expected nonce [0-9a-f]{32}…`),
		rx(`gpu1: attestation refused: nvidia: request nonce 931d8dd0add203ac3d8b4fbde75e1152… does not match the expected nonce [0-9a-f]{32}…`),
	})
}

// requirement returns requirement n of 'embassy assess --requirements'.
func requirement(t *testing.T, homeDir string, n int) (status string, evidence string) {
	t.Helper()
	r := run(t, homeDir, "", "--json", "assess", "--requirements")
	var fw struct {
		Requirements []struct {
			N        int
			Status   string
			Evidence []string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &fw); err != nil {
		t.Fatalf("assess: %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, q := range fw.Requirements {
		if q.N == n {
			return q.Status, strings.Join(q.Evidence, "\n")
		}
	}
	t.Fatalf("no requirement %d", n)
	return "", ""
}

// TestRequirement30ComputeAccess: "a reservation shortfall is reported;
// crisis-priority jobs preempt lower classes", shown by assess from the
// log: violated while the host is short, met once it adds capacity (the
// daemon re-reads its capacity file on every challenge) and a crisis
// check names the preemption.
func TestRequirement30ComputeAccess(t *testing.T) {
	dir, homeDir := computeHome(t, twoReservations, "gpus: [{model: H100, count: 4}]\ncpu-cores: 1\nmemory-gib: 1\n")
	computeReport(t, homeDir, ExitDamaged)
	st, ev := requirement(t, homeDir, 30)
	wantLines(t, "requirement 30 after a shortfall", st+"\n"+ev+"\n", lines{
		"violated",
		"site lu-1, 2026-11-20T00:00:00Z: 2 reservations checked (crisis false), 1 shortfalls, 0 attested GPUs; short: reservation registry-batch needs 2 H100 GPUs, 1 available (short 1)",
	})
	os.WriteFile(filepath.Join(dir, "capacity.yaml"), []byte("gpus: [{model: H100, count: 5}]\ncpu-cores: 1\nmemory-gib: 1\nworkloads:\n  - {name: host-train, owner: host, accelerator: H100, gpus: 5}\n"), 0o644)
	rep := computeReport(t, homeDir, ExitOK, "--crisis")
	if len(rep.Sites[0].Result.Preemptions) != 1 {
		t.Fatalf("crisis: %+v", rep.Sites[0].Result)
	}
	st, ev = requirement(t, homeDir, 30)
	wantLines(t, "requirement 30 after the host added capacity", st+"\n"+ev+"\n", lines{
		"met",
		"site lu-1, 2026-11-20T00:00:00Z: 2 reservations checked (crisis true), 0 shortfalls, 0 attested GPUs; preempt: host-train for crisis-llm",
	})
}

// TestRequirement04JurisdictionTagging: "a placement API call into a
// jurisdiction not allowed by the agreement fails": declared workloads
// carry their governing law and jurisdictions, and the policy refuses a
// workload placed outside its own jurisdictions (dataset-jurisdiction)
// and one at a site outside the agreement's residency
// (residency-agreement), with a log entry each.
func TestRequirement04JurisdictionTagging(t *testing.T) {
	dir, homeDir := computeHome(t, twoReservations, "gpus: [{model: H100, count: 5}]\ncpu-cores: 1\nmemory-gib: 1\n")
	mustRun(t, homeDir, "site", "add", "ch-x", "--url", filepath.Join(dir, "ch-x"), "--jurisdiction", "CH", "--agreement", "ee-lu")
	os.WriteFile(filepath.Join(homeDir, vault.WorkloadsFile), []byte(`workloads:
  - {name: llm-lu, site: lu-1, reservation: crisis-llm, governing-law: EE, jurisdictions: [LU, EE]}
  - {name: llm-home-only, site: lu-1, governing-law: EE, jurisdictions: [EE]}
  - {name: llm-ch, site: ch-x, governing-law: EE, jurisdictions: [CH, LU]}
`), 0o600)
	rep := computeReport(t, homeDir, ExitDamaged)
	got := map[string]string{}
	for _, p := range rep.Placements {
		got[p.Workload] = strings.Join(p.Rules, ",")
		if !p.Allow && len(p.Reasons) == 0 {
			t.Errorf("%s denied without a reason", p.Workload)
		}
	}
	if got["llm-lu"] != "" || got["llm-home-only"] != "dataset-jurisdiction" || got["llm-ch"] != "residency-agreement" {
		t.Fatalf("placements: %v", got)
	}
	if rep.Sites[0].Breach() {
		t.Fatalf("the capacity itself is enough: %+v", rep.Sites[0])
	}
	denial := func(index int, site, workload, rule string) string {
		return fmt.Sprintf(`  {
    "index": %d,
    "v": 1,
    "kind": "policy.change",
    "time": "2026-11-20T00:00:00Z",
    "actor": "home",
    "home": "HOME",
    "site": %q,
    "object": %q,
    "details": {
      "event": "workload-placement-denied",
      "rules": %q
    }
  }`, index, site, workload, rule)
	}
	wantLines(t, "log", homeIDs(mustRun(t, homeDir, "--json", "log", "--kind", "policy.change")), text(`
[
`+denial(7, "lu-1", "llm-home-only", "dataset-jurisdiction")+`,
`+denial(8, "ch-x", "llm-ch", "residency-agreement")+`
]
`))
	// An untagged workload is refused at once.
	os.WriteFile(filepath.Join(homeDir, vault.WorkloadsFile), []byte("workloads:\n  - {name: bare, site: lu-1}\n"), 0o600)
	expectRun(t, homeDir, ExitUsage, []string{"compute", "check"}, nil, lines{
		"embassy: error: workloads.yaml: workload 1 (bare): every workload is tagged with its governing-law and jurisdictions",
		"embassy: hint: fix " + filepath.Join(homeDir, vault.WorkloadsFile) + " (docs/COMPUTE.md)",
	})
	st, ev := requirement(t, homeDir, 4)
	wantLines(t, "requirement 4", st+"\n"+ev+"\n", lines{
		"not configured",
		"4 sites, 0 without a jurisdiction",
		"0 datasets (and their keys) tagged with a governing law or jurisdictions in policy.yaml",
		"workloads: tagged in workloads.yaml (governing-law, jurisdictions), placed by the policy in 'embassy compute check'; log: 2 workload placement denial entries, latest 2026-11-20T00:00:00Z",
		"tag datasets under datasets: in policy.yaml (governing-law, jurisdictions)",
	})
}

// TestCapacityEndpointRoles: the capacity endpoint answers home
// certificates only; an operator certificate of the same CA is refused,
// a malformed nonce is refused, and a daemon without --capacity says so.
func TestCapacityEndpointRoles(t *testing.T) {
	dir, homeDir := computeHome(t, twoReservations, "cpu-cores: 1\nmemory-gib: 1\n")
	ops := filepath.Join(dir, "ops")
	mustRun(t, homeDir, "pki", "issue", "--role", "operator", "--name", "ops", "-o", ops)
	hm, err := home.Open(homeDir)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := hm.Site("lu-1")
	addr := strings.TrimPrefix(sc.URL, "embassy://")
	op, err := remote.New(context.Background(), remote.Config{Host: addr, Files: pki.Files{CA: filepath.Join(ops, "ca.crt"), Cert: filepath.Join(ops, "ops.crt"), Key: filepath.Join(ops, "ops.key")}})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	_, err = op.Capacity(context.Background(), make([]byte, compute.NonceSize))
	wantLines(t, "operator's capacity request", fmt.Sprintln(err), lines{"capacity: daemon: role operator may not read capacity (403)"})
	// A daemon without a capacity file: the home's check names it.
	ids := filepath.Join(dir, "ch-ids")
	mustRun(t, homeDir, "pki", "issue", "--role", "site", "--name", "ch-1", "--host", "127.0.0.1", "-o", ids)
	plain := startServe(t, dir, ids, "ch-1").daemon
	pd := pkiDir(hm)
	b, err := remote.New(context.Background(), remote.Config{Host: plain, Files: pki.Files{CA: filepath.Join(pd, pki.CACertFile), Cert: filepath.Join(pd, "home.crt"), Key: filepath.Join(pd, "home.key")}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Capacity(context.Background(), make([]byte, compute.NonceSize))
	wantLines(t, "daemon without --capacity", fmt.Sprintln(err), lines{"the daemon reports no compute capacity: the host starts embassyd with --capacity FILE (docs/COMPUTE.md)"})
	hc, err := remote.New(context.Background(), remote.Config{Host: addr, Files: pki.Files{CA: filepath.Join(pd, pki.CACertFile), Cert: filepath.Join(pd, "home.crt"), Key: filepath.Join(pd, "home.key")}})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	_, err = hc.Capacity(context.Background(), []byte{1})
	wantLines(t, "short nonce", fmt.Sprintln(err), lines{"capacity: daemon: the nonce must be 32 bytes of hex (400)"})
}
