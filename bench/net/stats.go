package main

import (
	"math"
	"slices"
)

// median returns the median of xs (the mean of the two middle values for an
// even count), or NaN for an empty slice. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// minMax returns the extremes of xs, NaN for an empty slice.
func minMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}

// ratio returns a/b, or NaN when b is not a positive number: a ratio against
// a zero or missing baseline means nothing and must not print as Inf.
func ratio(a, b float64) float64 {
	if !(b > 0) || math.IsNaN(a) {
		return math.NaN()
	}
	return a / b
}

// pairs holds one case's measurements, one raw and one govmm run per
// round, taken next to each other in time.
type pairs struct {
	raw, govmm []float64 // frames per second, by round
}

// summary is what the report prints for one case.
type summary struct {
	rawFPS, govmmFPS             float64 // medians
	rawMin, rawMax               float64
	govmmMin, govmmMax           float64
	ratio                        float64 // median of the per-round govmm/raw ratios
	rawNs, govmmNs, overheadNs   float64 // medians of ns/frame; overhead: of per-round differences
	rawGbps, govmmGbps           float64 // at the median rates
	ratioMin, ratioMax           float64
	roundsMeasured, roundsPaired int
}

// summarize reduces the rounds. The ratio and the overhead are medians of
// per-round values: a raw and a govmm run of one round ran seconds apart on
// the same machine state, so pairing them cancels slow drifts (another
// tenant, frequency) that comparing two independent medians would keep.
// frameBytes converts frames per second to Gbit/s.
func summarize(p pairs, frameBytes int) summary {
	var s summary
	s.rawFPS, s.govmmFPS = median(p.raw), median(p.govmm)
	s.rawMin, s.rawMax = minMax(p.raw)
	s.govmmMin, s.govmmMax = minMax(p.govmm)
	var ratios, over, rawNs, govNs []float64
	for i := range min(len(p.raw), len(p.govmm)) {
		r, g := p.raw[i], p.govmm[i]
		if !(r > 0) || !(g > 0) {
			continue
		}
		ratios = append(ratios, g/r)
		over = append(over, 1e9/g-1e9/r)
	}
	for _, r := range p.raw {
		if r > 0 {
			rawNs = append(rawNs, 1e9/r)
		}
	}
	for _, g := range p.govmm {
		if g > 0 {
			govNs = append(govNs, 1e9/g)
		}
	}
	s.ratio = median(ratios)
	s.ratioMin, s.ratioMax = minMax(ratios)
	s.overheadNs = median(over)
	s.rawNs, s.govmmNs = median(rawNs), median(govNs)
	s.rawGbps, s.govmmGbps = gbps(s.rawFPS, frameBytes), gbps(s.govmmFPS, frameBytes)
	s.roundsMeasured, s.roundsPaired = max(len(p.raw), len(p.govmm)), len(ratios)
	return s
}

// gbps converts a frame rate to Gbit/s of frameBytes-byte frames.
func gbps(fps float64, frameBytes int) float64 {
	return fps * float64(frameBytes) * 8 / 1e9
}
