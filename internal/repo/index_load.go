package repo

import "sync"

// indexLoadBytes bounds the index objects being loaded at once by their
// size: loading one holds several copies of it (sealed, decrypted,
// decompressed, the signed message twice), about 5x its size. Small
// objects load 8 at a time; a vault of 10 million blobs has objects of
// 65 MB, which then load one at a time. (Measured there: peak RSS 1.68 GB
// either way, as the peak comes after loading: the index itself, 1.18 GB,
// and the collector's headroom. This bounds the transient for vaults with
// more, larger objects.)
const indexLoadBytes = 64 << 20

// loadAdmission lets at most n loads run, and more than one only while
// their sizes sum to at most bytes.
type loadAdmission struct {
	mu       sync.Mutex
	cond     *sync.Cond
	max      int
	bytes    int64
	running  int
	inflight int64
}

func newLoadAdmission(n int, bytes int64) *loadAdmission {
	a := &loadAdmission{max: n, bytes: bytes}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// acquire waits until a load of size n may start. A size a site reported
// wrongly only changes the order loads run in.
func (a *loadAdmission) acquire(n int64) {
	n = max(n, 0)
	a.mu.Lock()
	for a.running > 0 && (a.running >= a.max || a.inflight+n > a.bytes) {
		a.cond.Wait()
	}
	a.running++
	a.inflight += n
	a.mu.Unlock()
}

func (a *loadAdmission) release(n int64) {
	n = max(n, 0)
	a.mu.Lock()
	a.running--
	a.inflight -= n
	a.cond.Broadcast()
	a.mu.Unlock()
}
