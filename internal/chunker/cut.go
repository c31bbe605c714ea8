package chunker

// Cut returns the length of the first chunk of data, taking data to be all
// that is left of the stream. It returns 0 only for empty data. p must be
// valid (see Params.Validate).
func Cut(data []byte, tab *Table, p Params) int {
	n, _ := cut(data, tab, p, p.Min)
	return n
}

// cut looks for a boundary among the lengths in [from, min(Max, len(data)))
// and reports whether it found one; from must be at least Min. Without one
// it returns min(Max, len(data)), and true only if that is Max.
func cut(data []byte, tab *Table, p Params, from int) (int, bool) {
	end := min(p.Max, len(data))
	if from >= end {
		return end, end == p.Max
	}
	small, large := p.masks()
	if from < p.Avg {
		if i := search(&tab.gear, data[from-window:min(p.Avg, end)], small); i >= 0 {
			return from + i, true
		}
		from = p.Avg
	}
	if from < end {
		if i := search(&tab.gear, data[from-window:end], large); i >= 0 {
			return from + i, true
		}
	}
	return end, end == p.Max
}

// search returns the smallest i for which the gear hash of w[i:i+64] has no
// bit of mask set, or -1 if there is none or w is shorter than 64 bytes.
//
// The loop is unrolled by four and loads each group's table entries before
// its first test: a load consumed right away is folded by the compiler into
// an ADD, which doubles the length of the h<<1 + g dependency chain, while
// a value already in a register lets it use a single LEA. The first entry of
// the next group is loaded one group early for the same reason.
func search(g *[256]uint64, w []byte, mask uint64) int {
	if len(w) < window {
		return -1
	}
	var h uint64
	for _, b := range w[:window-1] {
		h = h<<1 + g[b]
	}
	d := w[window-1:]
	i := 0
	if len(d) >= 5 {
		g0 := g[d[0]]
		for ; i+5 <= len(d); i += 4 {
			b := d[i : i+5 : i+5]
			g1, g2, g3, g4 := g[b[1]], g[b[2]], g[b[3]], g[b[4]]
			if h = h<<1 + g0; h&mask == 0 {
				return i
			}
			if h = h<<1 + g1; h&mask == 0 {
				return i + 1
			}
			if h = h<<1 + g2; h&mask == 0 {
				return i + 2
			}
			if h = h<<1 + g3; h&mask == 0 {
				return i + 3
			}
			g0 = g4
		}
	}
	for ; i < len(d); i++ {
		if h = h<<1 + g[d[i]]; h&mask == 0 {
			return i
		}
	}
	return -1
}
