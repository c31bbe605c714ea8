package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/site"
)

// The client side of access approval and incident filing at a daemon
// (internal/server api_access.go, api_incidents.go). Everything a daemon
// returns is the host's word: callers validate each record
// (approval.HostRequest.Check, incident.HostRecord.Check).

// maxRecords bounds what the home reads back: more than a daemon holds.
const maxRecordsBody = 16 << 20

func (b *Backend) sendJSON(ctx context.Context, method, path string, in any, want int, out any) error {
	var body io.Reader
	hd := http.Header{}
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
		hd.Set("Content-Type", "text/plain; charset=utf-8")
	default:
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
		hd.Set("Content-Type", "application/json")
	}
	resp, err := b.do(ctx, method, path, body, hd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return responseError(method, stringer(path), resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxRecordsBody)).Decode(out); err != nil {
		return site.Permanent(fmt.Errorf("%s %s: malformed answer from the daemon: %w", method, path, err))
	}
	return nil
}

// RequestAccess files a host operator's access request at the daemon
// (operator certificate); the daemon holds it pending.
func (b *Backend) RequestAccess(ctx context.Context, f approval.Filing) (approval.HostRequest, error) {
	var r approval.HostRequest
	err := b.sendJSON(ctx, http.MethodPost, "/v1/access", f, http.StatusCreated, &r)
	return r, err
}

// AccessRequests lists the requests the daemon holds.
func (b *Backend) AccessRequests(ctx context.Context) ([]approval.HostRequest, error) {
	var rs []approval.HostRequest
	err := b.sendJSON(ctx, http.MethodGet, "/v1/access", nil, http.StatusOK, &rs)
	return rs, err
}

// PushDecision delivers a signed decision (approval.Decision.Sign) on
// request id.
func (b *Backend) PushDecision(ctx context.Context, id string, signed []byte) (approval.HostRequest, error) {
	var r approval.HostRequest
	if !approval.ValidID(id) {
		return r, site.Permanent(fmt.Errorf("access request id %q is not 32 hex digits", id))
	}
	err := b.sendJSON(ctx, http.MethodPost, "/v1/access/"+id+"/decision", signed, http.StatusOK, &r)
	return r, err
}

// MaintenanceList is the privileged operation of scope "metadata": the
// names of the objects of kind the site stores. The daemon refuses it
// without an approved request of the caller's.
func (b *Backend) MaintenanceList(ctx context.Context, k site.Kind) ([]string, error) {
	resp, err := b.do(ctx, http.MethodGet, "/v1/maintenance/list/"+k.String(), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("maintenance list: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, responseError("maintenance list", k, resp)
	}
	var names []string
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxRecordsBody))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		var e struct {
			Name string `json:"name"`
			End  bool   `json:"end"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && !e.End {
			names = append(names, e.Name)
		}
	}
	return names, sc.Err()
}

// FileIncident files an incident at the daemon (operator certificate).
func (b *Backend) FileIncident(ctx context.Context, f incident.HostFiling) (incident.HostRecord, error) {
	var r incident.HostRecord
	err := b.sendJSON(ctx, http.MethodPost, "/v1/incidents", f, http.StatusCreated, &r)
	return r, err
}

// Incidents lists the incidents the daemon holds; a home certificate's
// fetch marks them pulled there.
func (b *Backend) Incidents(ctx context.Context) ([]incident.HostRecord, error) {
	var rs []incident.HostRecord
	err := b.sendJSON(ctx, http.MethodGet, "/v1/incidents", nil, http.StatusOK, &rs)
	return rs, err
}

// PushIncidentAck delivers the home's signed acknowledgement
// (incident.Ack.Sign) of incident id.
func (b *Backend) PushIncidentAck(ctx context.Context, id string, signed []byte) (incident.HostRecord, error) {
	var r incident.HostRecord
	if !approval.ValidID(id) {
		return r, site.Permanent(fmt.Errorf("incident id %q is not 32 hex digits", id))
	}
	err := b.sendJSON(ctx, http.MethodPost, "/v1/incidents/"+id+"/ack", signed, http.StatusOK, &r)
	return r, err
}
