package main

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 2}, 2},
	} {
		in := append([]float64(nil), c.in...)
		if got := median(in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median modified its input: %v", in)
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if lo, hi := minMax([]float64{3, 1, 2}); lo != 1 || hi != 3 {
		t.Errorf("minMax = %v, %v", lo, hi)
	}
	if lo, hi := minMax(nil); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Error("minMax of nothing is not NaN")
	}
}

func TestRatio(t *testing.T) {
	if ratio(3, 4) != 0.75 {
		t.Error("3/4")
	}
	for _, c := range [][2]float64{{1, 0}, {1, -1}, {1, math.NaN()}, {math.NaN(), 1}} {
		if !math.IsNaN(ratio(c[0], c[1])) {
			t.Errorf("ratio(%v, %v) is a number", c[0], c[1])
		}
	}
}

func TestSummarize(t *testing.T) {
	// Round 2 is slow on both sides (another tenant): pairing keeps its
	// ratio sane, and the median ignores round 3's outlier.
	p := pairs{
		raw:   []float64{1e6, 1e6, 5e5, 1e6},
		govmm: []float64{9e5, 8e5, 4.5e5, 1e6},
	}
	s := summarize(p, 1514)
	if s.rawFPS != 1e6 || s.govmmFPS != 8.5e5 {
		t.Fatalf("medians %v %v", s.rawFPS, s.govmmFPS)
	}
	if s.ratio != 0.9 || s.ratioMin != 0.8 || s.ratioMax != 1 {
		t.Fatalf("ratio %v [%v, %v], want 0.9 [0.8, 1]", s.ratio, s.ratioMin, s.ratioMax)
	}
	// ns/frame differences by round: 111.1, 250, 222.2, 0 -> median 166.7.
	if math.Abs(s.overheadNs-(1e9/9e5-1e9/1e6+1e9/4.5e5-1e9/5e5)/2) > 1e-6 {
		t.Fatalf("overhead %v", s.overheadNs)
	}
	if math.Abs(s.rawGbps-1e6*1514*8/1e9) > 1e-9 || s.rawMin != 5e5 || s.govmmMax != 1e6 {
		t.Fatalf("summary %+v", s)
	}
	if s.rawNs != 1000 {
		t.Fatalf("raw ns/frame %v", s.rawNs)
	}
	if s.roundsPaired != 4 {
		t.Fatalf("%d rounds paired", s.roundsPaired)
	}

	// One side only: no ratio.
	s = summarize(pairs{raw: []float64{1e6}}, 78)
	if !math.IsNaN(s.ratio) || !math.IsNaN(s.govmmFPS) || s.rawFPS != 1e6 {
		t.Fatalf("raw only: %+v", s)
	}
}
