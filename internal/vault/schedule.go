package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/notify"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

// ScheduleFile is the scheduler's persisted state in the home: when each
// job last ran, how it went, and what it already alerted on.
const ScheduleFile = "schedule/state.json"

// scheduleFormat identifies the state file.
const scheduleFormat = "embassy-schedule/v1"

// JobFailedKind is the alert kind of a scheduled job that could not run.
const JobFailedKind = "job-failed"

// Job is one named job of a Scheduler.
type Job struct {
	Name  string
	Every time.Duration
	// Silent jobs write no job entry of their own: their operations log
	// themselves (protect's snapshots). A failure is still logged.
	Silent bool
	// Run does the work at slot (the vault's clock when the run was
	// decided). st is the job's persisted state: Data and Raised survive
	// restarts. Alerts returned are logged and sent through the watch
	// notifier; an error is a failed run (logged, alerted, retried at the
	// next interval).
	Run func(ctx context.Context, slot time.Time, st *JobState) (*JobReport, error)
}

// JobReport is what one run of a job found.
type JobReport struct {
	OK      bool // nothing to alert on
	Summary string
	Details map[string]string
	Alerts  []watch.Alert
}

// JobState is a job's persisted state.
type JobState struct {
	LastRun  time.Time `json:"last_run,omitzero"`
	LastOK   time.Time `json:"last_ok,omitzero"`
	Runs     int       `json:"runs"`
	Failures int       `json:"failures"`
	LastErr  string    `json:"last_error,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	// Raised are the conditions already alerted on (a job raises each
	// once, not at every run), by key, with when.
	Raised map[string]time.Time `json:"raised,omitempty"`
	// Data is the job's own cursor (the read-data run counter, ...).
	Data map[string]string `json:"data,omitempty"`
}

// Raise reports whether the condition key is new, and marks it raised.
func (st *JobState) Raise(key string, now time.Time) bool {
	if _, ok := st.Raised[key]; ok {
		return false
	}
	if st.Raised == nil {
		st.Raised = map[string]time.Time{}
	}
	st.Raised[key] = now
	return true
}

// Clear forgets raised conditions not in keep, so that one that comes
// back is raised again.
func (st *JobState) Clear(keep map[string]bool) {
	for k := range st.Raised {
		if !keep[k] {
			delete(st.Raised, k)
		}
	}
}

// ScheduleState is the content of ScheduleFile.
type ScheduleState struct {
	Format string               `json:"format"`
	Jobs   map[string]*JobState `json:"jobs"`
}

// JobRun is one run a pass of the scheduler made.
type JobRun struct {
	Job    string
	Slot   time.Time
	Report *JobReport
	Err    error
}

// Scheduler runs the home's scheduled jobs on the vault's clock: each job
// when its interval has passed since its last run (at once if it never
// ran), one after the other. After a run its result (a job entry, and an
// alert entry per alert) is appended to the transparency log and the
// alerts are handed to the watch notifier (<home>/watch.yaml); only then
// is the job's state written (atomically) to <home>/schedule/state.json.
// A process killed between the two runs the job again when it restarts:
// a result may be logged twice, never lost.
type Scheduler struct {
	v    *Vault
	jobs []Job
	path string
	st   ScheduleState
	// Sleep waits d or until ctx ends (tests inject a fake clock's).
	Sleep func(ctx context.Context, d time.Duration) error
	// OnRun is called after each run is recorded.
	OnRun func(JobRun)
	// afterLog is a test hook between the log append and the state write.
	afterLog func(JobRun)

	router *notify.Router
}

// NewScheduler loads the persisted state of the home's jobs.
func (v *Vault) NewScheduler(jobs ...Job) (*Scheduler, error) {
	s := &Scheduler{v: v, jobs: jobs, path: filepath.Join(v.Home.Dir, filepath.FromSlash(ScheduleFile))}
	seen := map[string]bool{}
	for _, j := range jobs {
		if j.Name == "" || seen[j.Name] || j.Every <= 0 || j.Run == nil {
			return nil, fmt.Errorf("scheduler: job %q: needs a unique name, a positive interval and a run function", j.Name)
		}
		seen[j.Name] = true
	}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.st = ScheduleState{Format: scheduleFormat, Jobs: map[string]*JobState{}}
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.st); err != nil || s.st.Format != scheduleFormat {
			return nil, hint.Wrap(fmt.Errorf("scheduler state %s is damaged (%v)", s.path, err),
				"delete it: every job then runs at once, and the log keeps the history")
		}
		if s.st.Jobs == nil {
			s.st.Jobs = map[string]*JobState{}
		}
	}
	router, err := notify.Load(filepath.Join(v.Home.Dir, WatchConfigFile))
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "fix <home>/watch.yaml; 'embassy watch --help' shows its fields"), hint.CodeUsage)
	}
	s.router = router
	s.router.GroupWait = time.Nanosecond // a run delivers what it found
	return s, nil
}

// State returns a job's persisted state (nil if it never ran).
func (s *Scheduler) State(job string) *JobState { return s.st.Jobs[job] }

func (s *Scheduler) state(job string) *JobState {
	st := s.st.Jobs[job]
	if st == nil {
		st = &JobState{}
		s.st.Jobs[job] = st
	}
	return st
}

// due reports whether j is due at now.
func (s *Scheduler) due(j Job, now time.Time) bool {
	st := s.st.Jobs[j.Name]
	return st == nil || st.LastRun.IsZero() || !now.Before(st.LastRun.Add(j.Every)) || now.Before(st.LastRun)
}

// Next is when the next job is due.
func (s *Scheduler) Next() time.Time {
	var next time.Time
	for _, j := range s.jobs {
		t := s.v.Now()
		if st := s.st.Jobs[j.Name]; st != nil && !st.LastRun.IsZero() {
			t = st.LastRun.Add(j.Every)
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// RunDue runs every job that is due (every job with force), in order,
// and returns the runs. A job that fails does not stop the others; an
// error is returned only when a result could not be recorded.
func (s *Scheduler) RunDue(ctx context.Context, force bool) ([]JobRun, error) {
	var runs []JobRun
	for _, j := range s.jobs {
		if ctx.Err() != nil {
			return runs, ctx.Err()
		}
		slot := s.v.Now()
		if !force && !s.due(j, slot) {
			continue
		}
		run, err := s.runOne(ctx, j, slot)
		runs = append(runs, run)
		if err != nil {
			return runs, err
		}
	}
	return runs, nil
}

func (s *Scheduler) runOne(ctx context.Context, j Job, slot time.Time) (JobRun, error) {
	st := s.state(j.Name)
	work := *st // the job mutates a copy; it is kept once the result is logged
	work.Raised, work.Data = cloneTimes(st.Raised), cloneStrings(st.Data)
	rep, err := j.Run(ctx, slot, &work)
	if ctx.Err() != nil {
		return JobRun{Job: j.Name, Slot: slot, Err: ctx.Err()}, ctx.Err() // interrupted: nothing recorded, runs again
	}
	run := JobRun{Job: j.Name, Slot: slot, Report: rep, Err: err}
	if rep == nil {
		rep = &JobReport{}
	}
	facts := tlog.JobFacts{Job: j.Name, Slot: slot, OK: err == nil && rep.OK, Summary: rep.Summary, Details: rep.Details}
	alerts := append([]watch.Alert(nil), rep.Alerts...)
	// The same failure run after run is logged and alerted once, until
	// it changes or clears.
	repeat := err != nil && st.LastErr == err.Error()
	if err != nil {
		facts.Summary = "failed: " + err.Error()
	}
	if err != nil && !repeat {
		alerts = append(alerts, watch.Alert{Time: slot, Kind: JobFailedKind, Why: watch.CleanN(fmt.Sprintf("scheduled job %s failed: %v", j.Name, err), watch.MaxLine), Unit: "run"})
	}
	facts.Alerts = len(alerts)
	var ents []tlog.Entry
	if (!j.Silent && !repeat) || len(alerts) > 0 {
		ents = append(ents, tlog.JobEntry(facts))
	}
	for _, a := range alerts {
		if a.Time.IsZero() {
			a.Time = slot
		}
		s.router.Add(a)
		e := watchman.Entry(a, slot)
		e.Actor = "schedule"
		ents = append(ents, e)
	}
	// The result is in the log before anyone is told and before the
	// state says the run happened.
	if aerr := s.v.Recorder().Append(ctx, ents...); aerr != nil {
		return run, hint.Wrap(fmt.Errorf("job %s: %w", j.Name, aerr), "the result could not be logged; the job runs again at the next pass")
	}
	if _, ferr := s.router.Flush(ctx, slot); ferr != nil {
		s.v.Warnf("job %s: notification failed (the alerts are logged): %v", j.Name, ferr)
	}
	if s.afterLog != nil {
		s.afterLog(run)
	}
	work.LastRun, work.Runs = slot, work.Runs+1
	work.Summary = facts.Summary
	if err != nil {
		work.Failures++
		work.LastErr = err.Error()
	} else {
		work.LastOK, work.LastErr = slot, ""
	}
	quiet := j.Silent && err == nil && st.LastErr == "" && st.Runs > 0
	*st = work
	// A silent job's clean runs (protect's poll) are kept in memory: its
	// work derives what is due from the sites, so only its failures and
	// first run are worth a disk write.
	if !quiet {
		if werr := s.save(); werr != nil {
			return run, werr
		}
	}
	if s.OnRun != nil {
		s.OnRun(run)
	}
	return run, nil
}

func (s *Scheduler) save() error {
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(s.path, append(b, '\n'), 0o600)
}

// Run runs the due jobs, sleeps until the next one is due (at most poll),
// and again, until ctx ends (then it returns nil). A result that cannot be
// logged is reported and retried at the next pass.
func (s *Scheduler) Run(ctx context.Context, poll time.Duration) error {
	sleep := s.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for {
		if _, err := s.RunDue(ctx, false); err != nil && ctx.Err() == nil {
			s.v.log.ErrorContext(ctx, "scheduler", "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		d := s.Next().Sub(s.v.Now())
		if d > poll {
			d = poll
		}
		if d < time.Millisecond {
			d = time.Millisecond
		}
		if err := sleep(ctx, d); err != nil {
			return nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Jobs lists the scheduler's jobs by name, sorted.
func (s *Scheduler) Jobs() []string {
	var out []string
	for _, j := range s.jobs {
		out = append(out, j.Name)
	}
	sort.Strings(out)
	return out
}

func cloneTimes(m map[string]time.Time) map[string]time.Time {
	if m == nil {
		return nil
	}
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneStrings(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
