package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the watcher's notification file (<home>/watch.yaml):
//
//	webhooks:
//	  - url: https://soc.example.ee/hooks/embassy
//	    secret_file: webhook.secret        # relative to the home; HMAC key
//	mail:
//	  addr: smtp.example.ee:587
//	  from: embassy@example.ee
//	  to: [soc@example.ee]
//	  username: embassy                    # optional
//	  password_file: smtp.password         # optional
//	group_wait: 30s
//	repeat: 4h
//	quiet:
//	  - {weekday: saturday, from: 0, to: 24}
//	  - {start: 2026-12-24T00:00:00Z, end: 2026-12-27T00:00:00Z}
//	critical: [offhours-session-unwraps, unusual-restore-site]
type Config struct {
	Webhooks []struct {
		URL        string `yaml:"url"`
		SecretFile string `yaml:"secret_file"`
	} `yaml:"webhooks"`
	Mail *struct {
		Addr         string   `yaml:"addr"`
		From         string   `yaml:"from"`
		To           []string `yaml:"to"`
		Username     string   `yaml:"username"`
		PasswordFile string   `yaml:"password_file"`
	} `yaml:"mail"`
	GroupWait string `yaml:"group_wait"`
	Repeat    string `yaml:"repeat"`
	Quiet     []struct {
		Weekday string    `yaml:"weekday"`
		From    int       `yaml:"from"`
		To      int       `yaml:"to"`
		Start   time.Time `yaml:"start"`
		End     time.Time `yaml:"end"`
	} `yaml:"quiet"`
	Critical []string `yaml:"critical"`
}

// Load reads a notification file; dir resolves relative secret files. A
// missing file is an empty configuration (alerts are printed and logged
// only).
func Load(path string) (*Router, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Router{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	secret := func(name string) ([]byte, error) {
		if name == "" {
			return nil, nil
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		s, err := os.ReadFile(name)
		return bytes.TrimSpace(s), err
	}
	r := &Router{Critical: map[string]bool{}}
	for i, w := range c.Webhooks {
		if !strings.HasPrefix(w.URL, "https://") && !strings.HasPrefix(w.URL, "http://127.") && !strings.HasPrefix(w.URL, "http://localhost") {
			return nil, fmt.Errorf("%s: webhooks[%d].url %q: use https:// (plain http only to loopback)", path, i, w.URL)
		}
		s, err := secret(w.SecretFile)
		if err != nil || len(s) < 16 {
			return nil, fmt.Errorf("%s: webhooks[%d].secret_file: %v (a secret of at least 16 bytes is required)", path, i, err)
		}
		r.Sinks = append(r.Sinks, &Webhook{URL: w.URL, Secret: s})
	}
	if m := c.Mail; m != nil {
		if m.Addr == "" || m.From == "" || len(m.To) == 0 {
			return nil, fmt.Errorf("%s: mail needs addr, from and to", path)
		}
		pw, err := secret(m.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("%s: mail.password_file: %w", path, err)
		}
		r.Sinks = append(r.Sinks, &Mail{Addr: m.Addr, From: m.From, To: m.To, Username: m.Username, Password: string(pw)})
	}
	for _, f := range []struct {
		s string
		d *time.Duration
		n string
	}{{c.GroupWait, &r.GroupWait, "group_wait"}, {c.Repeat, &r.Repeat, "repeat"}} {
		if f.s == "" {
			continue
		}
		d, err := time.ParseDuration(f.s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: %s %q: use a duration such as 30s or 4h", path, f.n, f.s)
		}
		*f.d = d
	}
	days := map[string]time.Weekday{}
	for d := time.Sunday; d <= time.Saturday; d++ {
		days[strings.ToLower(d.String())] = d
	}
	for i, q := range c.Quiet {
		var out Quiet
		switch {
		case !q.Start.IsZero() || !q.End.IsZero():
			if !q.End.After(q.Start) {
				return nil, fmt.Errorf("%s: quiet[%d]: end must be after start", path, i)
			}
			out.Start, out.End = q.Start, q.End
		default:
			if q.From < 0 || q.To > 24 || q.From >= q.To {
				return nil, fmt.Errorf("%s: quiet[%d]: hours from %d to %d: use 0 <= from < to <= 24 (UTC)", path, i, q.From, q.To)
			}
			out.From, out.To = q.From, q.To
			if q.Weekday != "" {
				wd, ok := days[strings.ToLower(q.Weekday)]
				if !ok {
					return nil, fmt.Errorf("%s: quiet[%d]: weekday %q: use monday ... sunday", path, i, q.Weekday)
				}
				out.Weekday = &wd
			}
		}
		r.Quiet = append(r.Quiet, out)
	}
	for _, k := range c.Critical {
		r.Critical[k] = true
	}
	return r, nil
}
