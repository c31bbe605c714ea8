package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/site"
)

func (s *Server) prove(w http.ResponseWriter, r *http.Request, c caller) error {
	start := time.Now()
	ch, err := proof.DecodeChallenge(http.MaxBytesReader(w, r.Body, proof.MaxRequestBytes))
	if err != nil {
		return badRequest("invalid challenge: " + err.Error())
	}
	resp := proof.Response{Nonce: ch.Nonce, Answers: make([]proof.Answer, len(ch.Objects))}
	ctx := r.Context()
	workers := min(max(2*runtime.GOMAXPROCS(0), s.cfg.Backend.Properties().Connections), 32)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				resp.Answers[i] = s.answer(ctx, ch, ch.Objects[i])
			}
		})
	}
	for i := range ch.Objects {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range ch.List {
		var names []string
		err := s.cfg.Backend.List(ctx, k, func(fi site.Info) error {
			names = append(names, fi.Handle.Name)
			return nil
		})
		if err != nil {
			return err
		}
		resp.Listings = append(resp.Listings, proof.Listing{Kind: k, Count: int64(len(names)), Digest: proof.ListingDigest(ch.Nonce, k, names)})
	}
	for _, a := range resp.Answers {
		s.metrics.proofObject(a.Status)
	}
	s.metrics.proof(start)
	w.Header().Set("Content-Type", "application/x-embassy-proof")
	return proof.WriteResponse(w, resp)
}

// answer proves one object. Failures are answers, not request errors: the
// home learns which objects the site could not prove.
func (s *Server) answer(ctx context.Context, ch proof.Challenge, h site.Handle) proof.Answer {
	a, err := s.tryAnswer(ctx, ch, h)
	switch {
	case errors.Is(err, site.ErrNotFound):
		return proof.Answer{Status: proof.StatusMissing}
	case err != nil:
		s.log.WarnContext(ctx, "proof failed", "object", h.String(), "err", err)
		return proof.Answer{Status: proof.StatusError, Err: "the site could not read the object"}
	}
	return a
}

func (s *Server) tryAnswer(ctx context.Context, ch proof.Challenge, h site.Handle) (proof.Answer, error) {
	b := s.cfg.Backend
	if _, ok := proof.ContentRoot(h); !ok {
		a := proof.Answer{Status: proof.StatusMAC}
		err := b.Get(ctx, h, 0, 0, func(r io.Reader) error {
			m := proof.NewMAC(ch.Nonce, h)
			n, err := io.Copy(m, r)
			a.Size = n
			m.Sum(a.MAC[:0])
			return err
		})
		return a, err
	}
	ob := s.cache.get(h)
	if ob == nil {
		err := b.Get(ctx, h, 0, 0, func(r io.Reader) error {
			var err error
			ob, err = proof.BuildOutboard(r)
			return err
		})
		if err != nil {
			return proof.Answer{}, err
		}
		s.cache.put(h, ob)
	}
	a := proof.Answer{Status: proof.StatusTree, Size: ob.Size}
	for _, c := range proof.SelectChunks(ch.Nonce, h, ob.Size, ch.Chunks) {
		off, n := ob.GroupRange(c)
		group, err := site.ReadRange(ctx, b, h, off, n)
		if err != nil {
			s.cache.drop(h) // the object changed under the cache
			return proof.Answer{}, err
		}
		chunk, path, err := ob.Prove(c, group)
		if err != nil {
			s.cache.drop(h)
			return proof.Answer{}, err
		}
		a.Chunks = append(a.Chunks, proof.ChunkProof{Index: c, Data: chunk, Path: path})
	}
	return a, nil
}
