package vault

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/sla"
	"github.com/digital-embassy/embassy/internal/strict"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// SLA files in the home.
const (
	SLADir        = "sla"              // signed monthly reports
	SLAProbesFile = "sla/probes.jsonl" // availability probes, one JSON line each
)

// KindSLAReport is the log entry of a signed monthly SLA report.
const KindSLAReport = tlog.KindSLAReport

// SLAProbe measures whether each host site answers from home now (a
// daemon's health endpoint over its pinned mutual-TLS link; other sites a
// listing) and appends the results to <home>/sla/probes.jsonl, the
// availability record of the monthly SLA report. Run it on a schedule.
func (v *Vault) SLAProbe(ctx context.Context) ([]sla.Probe, error) {
	var out []sla.Probe
	for _, sc := range v.Home.Config.Sites {
		if sc.Member {
			continue
		}
		p := sla.Probe{Time: v.Now(), Site: sc.Name, Up: true}
		if err := v.probe(ctx, sc.Name); err != nil {
			p.Up, p.Error = false, plainText(err.Error())
		}
		if err := evidence.AppendLine(filepath.Join(v.Home.Dir, filepath.FromSlash(SLAProbesFile)), p); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

var errProbeDone = errors.New("probe done")

func (v *Vault) probe(ctx context.Context, name string) error {
	sc, _ := siteConfig(v.Home, name)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	b, err := v.Backend(ctx, sc, false)
	if err != nil {
		return err
	}
	defer b.Close()
	if rb := DaemonOf(b); rb != nil {
		return rb.Health(ctx)
	}
	err = b.List(ctx, site.KindIndex, func(site.Info) error { return errProbeDone })
	if errors.Is(err, errProbeDone) {
		return nil
	}
	return err
}

// readProbes reads the probes file (none if absent); a damaged line is
// an error, not a silently better month.
func (v *Vault) readProbes() ([]sla.Probe, error) {
	f, err := os.Open(filepath.Join(v.Home.Dir, filepath.FromSlash(SLAProbesFile)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []sla.Probe
	sc := bufio.NewScanner(io.LimitReader(f, 1<<30))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var p sla.Probe
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, hint.Wrap(fmt.Errorf("%s line %d: %w", SLAProbesFile, n, err), "the probes file was altered or truncated; restore it from a backup")
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// SLAResult is one agreement's signed monthly report.
type SLAResult struct {
	Report *sla.Report `json:"report"`
	File   string      `json:"file"`   // the signed note
	SHA256 string      `json:"sha256"` // of the file, as logged
}

// SLAReport makes the monthly SLA report of every installed agreement
// with sites (or only agreement id) for month, from the home's probes and
// log, signs each with the home's log key as a signed note (checkable
// with the log's verifier key, <home>/log/log.pub), writes it to
// <home>/sla/ID-MONTH.note and logs it.
func (v *Vault) SLAReport(ctx context.Context, id string, month time.Time) ([]SLAResult, error) {
	base := agreement.DefaultBaseline()
	ias, err := LoadAgreements(v.Home, base)
	if err != nil {
		return nil, err
	}
	rd, err := v.Recorder().Reader()
	if err != nil {
		return nil, err
	}
	_, ents, err := rd.All(ctx)
	if err != nil && !errors.Is(err, tlog.ErrEmpty) {
		return nil, hint.WithCode(hint.Wrap(err, "the log or its checkpoint was altered; run 'embassy audit check'"), hint.CodeDamaged)
	}
	probes, err := v.readProbes()
	if err != nil {
		return nil, err
	}
	rc := v.Recorder()
	if err := rc.Setup(); err != nil {
		return nil, err
	}
	var out []SLAResult
	var logged []tlog.Entry
	for _, ia := range ias {
		if id != "" && ia.ID != id {
			continue
		}
		var sites []string
		for _, sc := range v.Home.Config.Sites {
			if sc.Agreement == ia.ID && !sc.Member {
				sites = append(sites, sc.Name)
			}
		}
		if len(sites) == 0 && id == "" {
			continue
		}
		res := agreement.Resolve(ia.Agreement, base)
		minutes := func(term string) time.Duration { return time.Duration(res[term].Value.Int()) * time.Minute }
		rep := sla.Compute(sla.Input{Agreement: ia.ID, Digest: agreement.Digest(ia.Agreement), Home: v.Home.Config.Home, Month: month, Now: v.Now(),
			Sites: sites, Probes: probes, Entries: ents, Terms: sla.Terms{
				AvailabilityPercent: res["sla.availability-percent"].Value.Float(), RPO: minutes("sla.rpo-minutes"), RTO: minutes("sla.rto-minutes"),
				IncidentHours: res["operations.incident-notification-hours"].Value.Int(), DisclosureHours: res["operations.disclosure-delay-hours"].Value.Int()}})
		body, err := json.Marshal(rep)
		if err != nil {
			return nil, err
		}
		signed, err := note.Sign(&note.Note{Text: string(body) + "\n"}, rc.Signer)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(v.Home.Dir, SLADir, ia.ID+"-"+rep.Month+".note")
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(file, signed, 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(signed)
		r := SLAResult{Report: rep, File: file, SHA256: hex.EncodeToString(sum[:])}
		out = append(out, r)
		logged = append(logged, slaEntry(r))
	}
	if id != "" && len(out) == 0 {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no installed agreement %q", id), "see 'embassy agreement list'"), hint.CodeUsage)
	}
	if err := rc.Append(ctx, logged...); err != nil {
		return out, hint.Wrap(err, "the reports are written but not logged; run the report again")
	}
	return out, nil
}

func slaEntry(r SLAResult) tlog.Entry {
	rep := r.Report
	var avail []string
	for _, a := range rep.Availability {
		avail = append(avail, a.Site+"="+strconv.FormatFloat(a.Percent, 'f', 3, 64))
	}
	d := map[string]string{"agreement": rep.Agreement, "month": rep.Month, "breaches": strconv.Itoa(len(rep.Breaches)),
		"availability": strings.Join(avail, ","), "incidents": strconv.Itoa(rep.Incidents), "disclosures": strconv.Itoa(rep.Disclosures)}
	if len(rep.Breaches) > 0 {
		d["breach"] = plainText(strings.Join(rep.Breaches, "; "))
	}
	return tlog.Entry{Kind: KindSLAReport, Object: r.SHA256, Details: d}
}

// VerifySLA checks a signed report against the home's log key and returns
// the report.
func (v *Vault) VerifySLA(signed []byte) (*sla.Report, error) {
	vkey, err := os.ReadFile(filepath.Join(LogDir(v.Home), tlog.PubFile))
	if err != nil {
		return nil, err
	}
	ver, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		return nil, err
	}
	n, err := note.Open(signed, note.VerifierList(ver))
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("the SLA report does not verify with this home's log key: %w", err), "the report was altered, or signed by another home"), hint.CodeDamaged)
	}
	var rep sla.Report
	if err := strict.JSON([]byte(n.Text), &rep); err != nil || rep.Format != sla.Format {
		return nil, hint.WithCode(fmt.Errorf("the signed note is not an SLA report (%v)", err), hint.CodeDamaged)
	}
	return &rep, nil
}
