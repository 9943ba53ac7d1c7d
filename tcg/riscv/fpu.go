package riscv

import (
	"math"
	"math/big"
	"math/bits"
)

// Floating point for F and D, IEEE 754-2008 as the riscv spec profiles it:
// five rounding modes, accrued exception flags, tininess detected after
// rounding, a canonical quiet NaN for every NaN result, NaN-boxing of single
// values in 64-bit registers, and saturating conversions to integers.
//
// The host's float64 arithmetic rounds to nearest-even and raises no flags
// Go can see. So each operation has a fast path (round-to-nearest-even, a
// normal result, and either the inexact flag already accrued or an exact
// error-free check that says whether the result was inexact) and a slow
// path that computes the exact result in math/big and rounds it in the
// requested mode, with the flags that rounding produced. Programs that do
// floating point set NX early and keep it, so the fast path is the common
// one; directed rounding modes always take the slow path.

// fflags bits.
const (
	FlagNX = 1 << 0 // inexact
	FlagUF = 1 << 1 // underflow
	FlagOF = 1 << 2 // overflow
	FlagDZ = 1 << 3 // divide by zero
	FlagNV = 1 << 4 // invalid
)

// Rounding modes (the rm field and frm).
const (
	RNE = 0
	RTZ = 1
	RDN = 2
	RUP = 3
	RMM = 4
	DYN = 7
)

const (
	canonNaN64 = 0x7ff8000000000000
	canonNaN32 = 0x7fc00000
	boxHigh    = 0xffffffff00000000
)

// format describes a binary floating-point format.
type format struct {
	p          int // significand bits, hidden bit included
	emin, emax int // exponents of the smallest and largest normal binade
	expBits    uint
}

var (
	fmt64 = format{p: 53, emin: -1022, emax: 1023, expBits: 11}
	fmt32 = format{p: 24, emin: -126, emax: 127, expBits: 8}
)

// Box NaN-boxes a single-precision value.
func Box(v uint32) uint64 { return uint64(v) | boxHigh }

// Unbox reads a single-precision operand: a value that is not properly
// NaN-boxed reads as the canonical NaN.
func Unbox(v uint64) uint32 {
	if v&boxHigh != boxHigh {
		return canonNaN32
	}
	return uint32(v)
}

func isNaN64(b uint64) bool  { return b&0x7fffffffffffffff > 0x7ff0000000000000 }
func isSNaN64(b uint64) bool { return isNaN64(b) && b&(1<<51) == 0 }
func isNaN32(b uint32) bool  { return b&0x7fffffff > 0x7f800000 }
func isSNaN32(b uint32) bool { return isNaN32(b) && b&(1<<22) == 0 }

// bigMode maps a riscv rounding mode to math/big's.
func bigMode(rm uint8) big.RoundingMode {
	switch rm {
	case RTZ:
		return big.ToZero
	case RDN:
		return big.ToNegativeInf
	case RUP:
		return big.ToPositiveInf
	case RMM:
		return big.ToNearestAway
	}
	return big.ToNearestEven
}

// roundBig rounds the exact (or sticky-marked, see stickyBelow) value x to
// format f in mode rm. neg gives the sign of a zero result. It returns the
// result's bits (low 32 for single) and the flags rounding raised.
func roundBig(x *big.Float, neg bool, f format, rm uint8) (uint64, uint8) {
	if x.Sign() == 0 {
		return signedZero(f, neg), 0
	}
	neg = x.Sign() < 0
	mode := bigMode(rm)
	// E: x in [2^E, 2^(E+1)).
	E := x.MantExp(nil) - 1
	var flags uint8

	// Tininess after rounding: round to p bits with an unbounded
	// exponent and compare with the smallest normal.
	y := new(big.Float).SetMode(mode).SetPrec(uint(f.p)).Set(x)
	ey := y.MantExp(nil) - 1
	tiny := ey < f.emin

	if ey > f.emax {
		// Overflow: the rounded result is beyond the largest finite.
		flags = FlagOF | FlagNX
		toInf := true
		switch rm {
		case RTZ:
			toInf = false
		case RDN:
			toInf = neg
		case RUP:
			toInf = !neg
		}
		if toInf {
			return infBits(f, neg), flags
		}
		return maxFinite(f, neg), flags
	}

	var z *big.Float
	prec := f.p
	if E < f.emin {
		prec = f.p - (f.emin - E)
	}
	minSub := new(big.Float).SetMantExp(big.NewFloat(1), f.emin-f.p+1)
	if prec >= 1 {
		z = new(big.Float).SetMode(mode).SetPrec(uint(prec)).Set(x)
	} else {
		// |x| < minSub: the result is 0 or the smallest subnormal.
		ax := new(big.Float).Abs(x)
		half := new(big.Float).SetMantExp(big.NewFloat(1), f.emin-f.p)
		up := false
		switch rm {
		case RNE:
			up = ax.Cmp(half) > 0
		case RMM:
			up = ax.Cmp(half) >= 0
		case RDN:
			up = neg
		case RUP:
			up = !neg
		}
		if up {
			z = new(big.Float).Set(minSub)
			if neg {
				z.Neg(z)
			}
		} else {
			z = new(big.Float)
		}
	}
	inexact := z.Cmp(x) != 0
	if inexact {
		flags |= FlagNX
		if tiny {
			flags |= FlagUF
		}
	}
	if z.Sign() == 0 {
		return signedZero(f, neg), flags
	}
	if f.p == 53 {
		v, _ := z.Float64()
		return math.Float64bits(v), flags
	}
	v, _ := z.Float32()
	return uint64(math.Float32bits(v)), flags
}

func signedZero(f format, neg bool) uint64 {
	if !neg {
		return 0
	}
	if f.p == 53 {
		return 1 << 63
	}
	return 1 << 31
}

func infBits(f format, neg bool) uint64 {
	if f.p == 53 {
		b := uint64(0x7ff0000000000000)
		if neg {
			b |= 1 << 63
		}
		return b
	}
	b := uint64(0x7f800000)
	if neg {
		b |= 1 << 31
	}
	return b
}

func maxFinite(f format, neg bool) uint64 {
	if f.p == 53 {
		b := uint64(0x7fefffffffffffff)
		if neg {
			b |= 1 << 63
		}
		return b
	}
	b := uint64(0x7f7fffff)
	if neg {
		b |= 1 << 31
	}
	return b
}

// exactBig returns v as an exact big.Float (v finite).
func exactBig(v float64) *big.Float { return new(big.Float).SetPrec(53).SetFloat64(v) }

// sumExact returns x + y exactly.
func sumExact(x, y *big.Float) *big.Float {
	if x.Sign() == 0 {
		return new(big.Float).Set(y)
	}
	if y.Sign() == 0 {
		return new(big.Float).Set(x)
	}
	ex, ey := x.MantExp(nil), y.MantExp(nil)
	hi, lo := ex, ey
	if lo > hi {
		hi, lo = lo, hi
	}
	prec := uint(hi-lo) + x.Prec() + y.Prec() + 2
	return new(big.Float).SetPrec(prec).Add(x, y)
}

func prodExact(x, y *big.Float) *big.Float {
	return new(big.Float).SetPrec(x.Prec()+y.Prec()).Mul(x, y)
}

// quoSticky returns a value that rounds like x/y at any precision up to
// 100 bits: the quotient truncated to 120 bits, plus a sticky bit below
// them when it is inexact. x, y finite and nonzero.
func quoSticky(x, y *big.Float) *big.Float {
	const P = 120
	q := new(big.Float).SetPrec(P).SetMode(big.ToZero).Quo(new(big.Float).Abs(x), new(big.Float).Abs(y))
	// q <= |x/y| (truncated). Exact iff q*|y| == |x|.
	back := prodExact(q, new(big.Float).Abs(y))
	q = withSticky(q, back.Cmp(new(big.Float).Abs(x)) != 0, P)
	if (x.Sign() < 0) != (y.Sign() < 0) {
		q.Neg(q)
	}
	return q
}

// sqrtSticky: like quoSticky for sqrt(x), x > 0.
func sqrtSticky(x *big.Float) *big.Float {
	const P = 120
	s := new(big.Float).SetPrec(P).SetMode(big.ToZero).Sqrt(x)
	sq := func(v *big.Float) int { return prodExact(v, v).Cmp(x) }
	// Make s the truncation: s*s <= x < next(s)^2.
	for sq(s) > 0 {
		s = nextDownP(s, P)
	}
	for {
		n := nextUpP(s, P)
		if sq(n) > 0 {
			break
		}
		s = n
	}
	return withSticky(s, sq(s) != 0, P)
}

func ulpP(v *big.Float, p uint) *big.Float {
	return new(big.Float).SetMantExp(big.NewFloat(1), v.MantExp(nil)-int(p))
}

func nextUpP(v *big.Float, p uint) *big.Float {
	return new(big.Float).SetPrec(p+8).Add(v, ulpP(v, p))
}

func nextDownP(v *big.Float, p uint) *big.Float {
	return new(big.Float).SetPrec(p+8).Sub(v, ulpP(v, p))
}

// withSticky adds a bit below the precision p of positive v when inexact,
// so that rounding to fewer bits sees "more than what is shown".
func withSticky(v *big.Float, inexact bool, p uint) *big.Float {
	if !inexact {
		return v
	}
	st := new(big.Float).SetMantExp(big.NewFloat(1), v.MantExp(nil)-int(p)-2)
	return new(big.Float).SetPrec(p+4).Add(v, st)
}

// --- NaN and special-value handling shared by the arithmetic ops ---

// fpVal holds an operand as float64 with its class.
type fpOp uint8

const (
	opAdd fpOp = iota
	opSub
	opMul
	opDiv
	opSqrt
	opFMA
)

// F64 arithmetic.

// FAdd64 and friends return the result bits and the flags raised.
func FAdd64(a, b uint64, rm uint8, acc uint8) (uint64, uint8) {
	return arith64(opAdd, a, b, 0, rm, acc)
}
func FSub64(a, b uint64, rm uint8, acc uint8) (uint64, uint8) {
	return arith64(opSub, a, b, 0, rm, acc)
}
func FMul64(a, b uint64, rm uint8, acc uint8) (uint64, uint8) {
	return arith64(opMul, a, b, 0, rm, acc)
}
func FDiv64(a, b uint64, rm uint8, acc uint8) (uint64, uint8) {
	return arith64(opDiv, a, b, 0, rm, acc)
}
func FSqrt64(a uint64, rm uint8, acc uint8) (uint64, uint8) {
	return arith64(opSqrt, a, 0, 0, rm, acc)
}

// FMA64 computes a*b+c with one rounding (negations are applied to the
// operands by the caller: FMSUB is FMA(a, b, -c) and so on).
func FMA64(a, b, c uint64, rm uint8, acc uint8) (uint64, uint8) {
	return arith64(opFMA, a, b, c, rm, acc)
}

// arith64 is the double-precision fast path; acc is the flags already
// accrued (a fast path is allowed when it cannot add a flag).
func arith64(op fpOp, ab, bb, cb uint64, rm uint8, acc uint8) (uint64, uint8) {
	a, b, c := math.Float64frombits(ab), math.Float64frombits(bb), math.Float64frombits(cb)
	var r float64
	switch op {
	case opAdd:
		r = a + b
	case opSub:
		r = a - b
	case opMul:
		r = a * b
	case opDiv:
		r = a / b
	case opSqrt:
		r = math.Sqrt(a)
	case opFMA:
		r = math.FMA(a, b, c)
	}
	rb := math.Float64bits(r)
	if rm == RNE && rb&0x7fffffffffffffff == 0 {
		// A zero result is exact when no nonzero value underflowed
		// to it; the host's sign rules are riscv's in this mode.
		switch op {
		case opAdd, opSub:
			// Finite operands (a zero result rules out infinities):
			// sums that land in the subnormal range are exact.
			return rb, 0
		case opMul:
			if a == 0 || b == 0 {
				return rb, 0
			}
		case opDiv:
			if a == 0 || math.IsInf(b, 0) {
				return rb, 0
			}
		}
	}
	// A normal result above the smallest normal: a result of exactly
	// the smallest normal may have been rounded up from a tiny value
	// (underflow after rounding), which the slow path decides.
	if rm == RNE && rb&0x7fffffffffffffff > 0x0010000000000000 && rb&0x7ff0000000000000 != 0x7ff0000000000000 {
		// A normal result in round-to-nearest-even: the value is
		// right; only the inexact flag is in question.
		if acc&FlagNX != 0 {
			return rb, 0
		}
		exact := false
		switch op {
		case opAdd, opSub:
			bb2 := b
			if op == opSub {
				bb2 = -b
			}
			exact = twoSumErr(a, bb2, r) == 0
		case opMul:
			if mulErrUnderflows(r) {
				return slow64(op, ab, bb, cb, rm)
			}
			exact = math.FMA(a, b, -r) == 0
		case opDiv:
			if mulErrUnderflows(a) {
				return slow64(op, ab, bb, cb, rm)
			}
			exact = math.FMA(-r, b, a) == 0
		case opSqrt:
			if mulErrUnderflows(a) {
				return slow64(op, ab, bb, cb, rm)
			}
			exact = math.FMA(-r, r, a) == 0
		case opFMA:
			// No cheap exact check: fall through to the slow path.
			return slow64(op, ab, bb, cb, rm)
		}
		if exact {
			return rb, 0
		}
		return rb, FlagNX
	}
	return slow64(op, ab, bb, cb, rm)
}

// mulErrUnderflows reports whether the FMA residual of a product near v
// could be subnormal (and so rounded): then the exactness test is not
// trustworthy and the slow path decides.
func mulErrUnderflows(v float64) bool {
	return math.Abs(v) < 0x1p-900
}

// twoSumErr returns the rounding error of s = a + b (Knuth's TwoSum).
func twoSumErr(a, b, s float64) float64 {
	bb := s - a
	return (a - (s - bb)) + (b - bb)
}

// specials handles NaN and infinity operands and invalid operations. ok
// false means the operands are finite and the operation is valid.
func specials64(op fpOp, ab, bb, cb uint64) (uint64, uint8, bool) {
	a, b, c := math.Float64frombits(ab), math.Float64frombits(bb), math.Float64frombits(cb)
	nan := isNaN64(ab) || (op != opSqrt && isNaN64(bb)) || (op == opFMA && isNaN64(cb))
	if nan {
		var fl uint8
		if isSNaN64(ab) || (op != opSqrt && isSNaN64(bb)) || (op == opFMA && isSNaN64(cb)) {
			fl = FlagNV
		}
		if op == opFMA && !isNaN64(ab) && !isNaN64(bb) && (math.IsInf(a, 0) && b == 0 || a == 0 && math.IsInf(b, 0)) {
			// 0 * inf + qNaN: invalid (riscv raises NV here).
			fl = FlagNV
		}
		return canonNaN64, fl, true
	}
	switch op {
	case opAdd, opSub:
		if op == opSub {
			b = -b
		}
		if math.IsInf(a, 0) || math.IsInf(b, 0) {
			if math.IsInf(a, 0) && math.IsInf(b, 0) && (a > 0) != (b > 0) {
				return canonNaN64, FlagNV, true
			}
			return math.Float64bits(a + b), 0, true
		}
	case opMul:
		if math.IsInf(a, 0) || math.IsInf(b, 0) {
			if a == 0 || b == 0 {
				return canonNaN64, FlagNV, true
			}
			return math.Float64bits(a * b), 0, true
		}
	case opDiv:
		if math.IsInf(a, 0) {
			if math.IsInf(b, 0) {
				return canonNaN64, FlagNV, true
			}
			return math.Float64bits(a / b), 0, true
		}
		if math.IsInf(b, 0) {
			return math.Float64bits(a / b), 0, true
		}
		if b == 0 {
			if a == 0 {
				return canonNaN64, FlagNV, true
			}
			return math.Float64bits(a / b), FlagDZ, true
		}
	case opSqrt:
		if a < 0 {
			return canonNaN64, FlagNV, true
		}
		if math.IsInf(a, 1) || a == 0 {
			return ab, 0, true
		}
	case opFMA:
		pInf := math.IsInf(a, 0) || math.IsInf(b, 0)
		if pInf && (a == 0 || b == 0) {
			return canonNaN64, FlagNV, true
		}
		if pInf || math.IsInf(c, 0) {
			p := a * b
			if pInf && math.IsInf(c, 0) && (p > 0) != (c > 0) {
				return canonNaN64, FlagNV, true
			}
			if math.IsInf(c, 0) {
				return cb, 0, true
			}
			return math.Float64bits(p), 0, true
		}
	}
	return 0, 0, false
}

// slow64 is the exact path for double precision.
func slow64(op fpOp, ab, bb, cb uint64, rm uint8) (uint64, uint8) {
	if r, fl, ok := specials64(op, ab, bb, cb); ok {
		return r, fl
	}
	a, b, c := math.Float64frombits(ab), math.Float64frombits(bb), math.Float64frombits(cb)
	return roundExact(op, a, b, c, fmt64, rm)
}

// roundExact computes op exactly on finite, valid operands and rounds.
func roundExact(op fpOp, a, b, c float64, f format, rm uint8) (uint64, uint8) {
	x, y, z := exactBig(a), exactBig(b), exactBig(c)
	var v *big.Float
	var zeroNeg bool
	switch op {
	case opAdd, opSub:
		if op == opSub {
			y.Neg(y)
			b = -b
		}
		v = sumExact(x, y)
		zeroNeg = zeroSumSign(math.Signbit(a), math.Signbit(b), rm)
	case opMul:
		v = prodExact(x, y)
		zeroNeg = math.Signbit(a) != math.Signbit(b)
	case opDiv:
		zeroNeg = math.Signbit(a) != math.Signbit(b)
		if a == 0 {
			v = new(big.Float)
		} else {
			v = quoSticky(x, y)
		}
	case opSqrt:
		zeroNeg = math.Signbit(a)
		if a == 0 {
			v = new(big.Float)
		} else {
			v = sqrtSticky(x)
		}
	case opFMA:
		p := prodExact(x, y)
		v = sumExact(p, z)
		pNeg := math.Signbit(a) != math.Signbit(b)
		zeroNeg = zeroSumSign(pNeg, math.Signbit(c), rm)
	}
	return roundBig(v, zeroNeg, f, rm)
}

// zeroSumSign is the sign of an exact zero sum x + y: negative when both
// are negative, or in round-down mode when they differ.
func zeroSumSign(xNeg, yNeg bool, rm uint8) bool {
	if xNeg == yNeg {
		return xNeg
	}
	return rm == RDN
}

// F32 arithmetic: operands are unboxed single values.

func FAdd32(a, b uint32, rm uint8, acc uint8) (uint32, uint8) {
	return arith32(opAdd, a, b, 0, rm, acc)
}
func FSub32(a, b uint32, rm uint8, acc uint8) (uint32, uint8) {
	return arith32(opSub, a, b, 0, rm, acc)
}
func FMul32(a, b uint32, rm uint8, acc uint8) (uint32, uint8) {
	return arith32(opMul, a, b, 0, rm, acc)
}
func FDiv32(a, b uint32, rm uint8, acc uint8) (uint32, uint8) {
	return arith32(opDiv, a, b, 0, rm, acc)
}
func FSqrt32(a uint32, rm uint8, acc uint8) (uint32, uint8) {
	return arith32(opSqrt, a, 0, 0, rm, acc)
}
func FMA32(a, b, c uint32, rm uint8, acc uint8) (uint32, uint8) {
	return arith32(opFMA, a, b, c, rm, acc)
}

func f32to64(b uint32) uint64 { return math.Float64bits(float64(math.Float32frombits(b))) }

// arith32 computes in double precision, which is exact for products and
// rounds sums, quotients and square roots innocuously (53 >= 2*24+2, so the
// double rounding to single gives the correctly rounded result in
// round-to-nearest-even).
func arith32(op fpOp, ab, bb, cb uint32, rm uint8, acc uint8) (uint32, uint8) {
	if isNaN32(ab) || (op != opSqrt && isNaN32(bb)) || (op == opFMA && isNaN32(cb)) {
		var fl uint8
		if isSNaN32(ab) || (op != opSqrt && isSNaN32(bb)) || (op == opFMA && isSNaN32(cb)) {
			fl = FlagNV
		}
		if op == opFMA && !isNaN32(ab) && !isNaN32(bb) {
			a, b := math.Float32frombits(ab), math.Float32frombits(bb)
			if math.IsInf(float64(a), 0) && b == 0 || a == 0 && math.IsInf(float64(b), 0) {
				fl = FlagNV
			}
		}
		return canonNaN32, fl
	}
	// Specials through the double-precision rules (no NaN operands now).
	a64, b64, c64 := f32to64(ab), f32to64(bb), f32to64(cb)
	if r, fl, ok := specials64(op, a64, b64, c64); ok {
		if isNaN64(r) {
			return canonNaN32, fl
		}
		return math.Float32bits(float32(math.Float64frombits(r))), fl
	}
	a, b, c := math.Float64frombits(a64), math.Float64frombits(b64), math.Float64frombits(c64)
	if rm == RNE && op != opFMA {
		var r float64
		exact := true
		switch op {
		case opAdd:
			r = a + b
			exact = twoSumErr(a, b, r) == 0
		case opSub:
			r = a - b
			exact = twoSumErr(a, -b, r) == 0
		case opMul:
			r = a * b // exact: 24+24 bits
		case opDiv:
			r = a / b
			exact = math.FMA(-r, b, a) == 0
		case opSqrt:
			r = math.Sqrt(a)
			exact = math.FMA(-r, r, a) == 0
		}
		r32 := float32(r)
		rb := math.Float32bits(r32)
		if r == 0 && exact {
			return rb, 0
		}
		e := rb & 0x7f800000
		if rb&0x7fffffff > 0x00800000 && e != 0x7f800000 {
			if acc&FlagNX != 0 {
				return rb, 0
			}
			// The residual checks above are exact: single operands
			// keep every double residual far from underflow.
			if exact && float64(r32) == r {
				return rb, 0
			}
			return rb, FlagNX
		}
	}
	if op == opFMA && rm == RNE {
		p := a * b // exact
		s := p + c
		if twoSumErr(p, c, s) == 0 {
			r32 := float32(s)
			rb := math.Float32bits(r32)
			e := rb & 0x7f800000
			if rb&0x7fffffff > 0x00800000 && e != 0x7f800000 {
				if float64(r32) == s {
					return rb, 0
				}
				return rb, FlagNX
			}
		}
	}
	r, fl := roundExact(op, a, b, c, fmt32, rm)
	return uint32(r), fl
}

// --- sign injection, min/max, compare, classify ---

// FMinMax64 implements FMIN.D (max false) and FMAX.D.
func FMinMax64(a, b uint64, max bool) (uint64, uint8) {
	var fl uint8
	if isSNaN64(a) || isSNaN64(b) {
		fl = FlagNV
	}
	an, bn := isNaN64(a), isNaN64(b)
	switch {
	case an && bn:
		return canonNaN64, fl
	case an:
		return b, fl
	case bn:
		return a, fl
	}
	x, y := math.Float64frombits(a), math.Float64frombits(b)
	if x == y { // +0 and -0: min is -0, max is +0
		if max {
			return a & b, fl
		}
		return a | b, fl
	}
	if (x < y) != max {
		return a, fl
	}
	return b, fl
}

// FMinMax32 is FMIN.S / FMAX.S.
func FMinMax32(a, b uint32, max bool) (uint32, uint8) {
	var fl uint8
	if isSNaN32(a) || isSNaN32(b) {
		fl = FlagNV
	}
	an, bn := isNaN32(a), isNaN32(b)
	switch {
	case an && bn:
		return canonNaN32, fl
	case an:
		return b, fl
	case bn:
		return a, fl
	}
	x, y := math.Float32frombits(a), math.Float32frombits(b)
	if x == y {
		if max {
			return a & b, fl
		}
		return a | b, fl
	}
	if (x < y) != max {
		return a, fl
	}
	return b, fl
}

// FCmp64 implements FEQ (op FEQ: quiet), FLT and FLE (signaling).
func FCmp64(op Op, a, b uint64) (uint64, uint8) {
	if isNaN64(a) || isNaN64(b) {
		if op != FEQ || isSNaN64(a) || isSNaN64(b) {
			return 0, FlagNV
		}
		return 0, 0
	}
	x, y := math.Float64frombits(a), math.Float64frombits(b)
	return cmpResult(op, x, y), 0
}

// FCmp32 is FCmp64 for single precision.
func FCmp32(op Op, a, b uint32) (uint64, uint8) {
	if isNaN32(a) || isNaN32(b) {
		if op != FEQ || isSNaN32(a) || isSNaN32(b) {
			return 0, FlagNV
		}
		return 0, 0
	}
	x, y := float64(math.Float32frombits(a)), float64(math.Float32frombits(b))
	return cmpResult(op, x, y), 0
}

func cmpResult(op Op, x, y float64) uint64 {
	var r bool
	switch op {
	case FEQ:
		r = x == y
	case FLT:
		r = x < y
	case FLE:
		r = x <= y
	}
	if r {
		return 1
	}
	return 0
}

// FClass64 returns the FCLASS bit for a double.
func FClass64(b uint64) uint64 {
	neg := b>>63 != 0
	exp := (b >> 52) & 0x7ff
	man := b & (1<<52 - 1)
	return classify(neg, exp == 0x7ff, exp == 0, man == 0, man>>51 != 0)
}

// FClass32 returns the FCLASS bit for a single.
func FClass32(b uint32) uint64 {
	neg := b>>31 != 0
	exp := (b >> 23) & 0xff
	man := b & (1<<23 - 1)
	return classify(neg, exp == 0xff, exp == 0, man == 0, man>>22 != 0)
}

func classify(neg, expMax, expZero, manZero, quiet bool) uint64 {
	switch {
	case expMax && manZero:
		if neg {
			return 1 << 0
		}
		return 1 << 7
	case expMax:
		if quiet {
			return 1 << 9
		}
		return 1 << 8
	case expZero && manZero:
		if neg {
			return 1 << 3
		}
		return 1 << 4
	case expZero:
		if neg {
			return 1 << 2
		}
		return 1 << 5
	}
	if neg {
		return 1 << 1
	}
	return 1 << 6
}

// --- conversions ---

// roundInt rounds finite v to an integral value in mode rm.
func roundInt(v float64, rm uint8) float64 {
	switch rm {
	case RTZ:
		return math.Trunc(v)
	case RDN:
		return math.Floor(v)
	case RUP:
		return math.Ceil(v)
	case RMM:
		return math.Round(v)
	}
	return math.RoundToEven(v)
}

// FCvtToInt converts a float (as float64; nan says whether it was a NaN)
// to an integer of the given width and signedness with riscv's saturation:
// NaN and +inf give the largest value, -inf the smallest; out-of-range
// values raise NV (not NX). The result is sign-extended from 32 bits for
// the W forms, as riscv64 defines (also for FCVT.WU).
func FCvtToInt(v float64, nan bool, rm uint8, bits int, signed bool) (uint64, uint8) {
	var lo, hi float64 // representable range, inclusive
	var minV, maxV uint64
	switch {
	case bits == 32 && signed:
		lo, hi = -2147483648, 2147483647
		minV, maxV = uint64(0xffffffff80000000), 0x7fffffff
	case bits == 32:
		lo, hi = 0, 4294967295
		minV, maxV = 0, 0xffffffffffffffff // 2^32-1 sign-extended
	case signed:
		lo, hi = -9223372036854775808, 9223372036854775807 // hi rounds to 2^63
		minV, maxV = 1<<63, 1<<63-1
	default:
		lo, hi = 0, 18446744073709551615 // 2^64
		minV, maxV = 0, ^uint64(0)
	}
	if nan {
		return maxV, FlagNV
	}
	if math.IsInf(v, 1) {
		return maxV, FlagNV
	}
	if math.IsInf(v, -1) {
		return minV, FlagNV
	}
	r := roundInt(v, rm)
	var fl uint8
	if r != v {
		fl = FlagNX
	}
	if r < lo {
		return minV, FlagNV
	}
	// For 64-bit targets hi is 2^63 or 2^64 exactly as a float64, which
	// is out of range.
	if r > hi || (bits == 64 && r == hi) {
		return maxV, FlagNV
	}
	switch {
	case bits == 32 && signed:
		return uint64(int64(int32(r))), fl
	case bits == 32:
		return uint64(int64(int32(uint32(r)))), fl
	case signed:
		return uint64(int64(r)), fl
	}
	if r >= 1<<63 {
		return uint64(r-(1<<63)) | 1<<63, fl
	}
	return uint64(r), fl
}

// FCvtFromInt converts the integer v (signed or not, 32 or 64 bits as
// already extended by the caller) to format f in mode rm.
func FCvtFromInt(v uint64, signed bool, f format, rm uint8) (uint64, uint8) {
	neg := signed && int64(v) < 0
	mag := v
	if neg {
		mag = -v
	}
	if mag == 0 {
		return 0, 0
	}
	// Exact when the magnitude fits the significand.
	if bits.Len64(mag)-bits.TrailingZeros64(mag) <= f.p {
		x := float64(mag)
		if neg {
			x = -x
		}
		if f.p == 53 {
			return math.Float64bits(x), 0
		}
		return uint64(math.Float32bits(float32(x))), 0
	}
	x := new(big.Float).SetPrec(64).SetUint64(mag)
	if neg {
		x.Neg(x)
	}
	return roundBig(x, neg, f, rm)
}

// FCvtSD narrows a double to single.
func FCvtSD(a uint64, rm uint8) (uint32, uint8) {
	if isNaN64(a) {
		if isSNaN64(a) {
			return canonNaN32, FlagNV
		}
		return canonNaN32, 0
	}
	x := math.Float64frombits(a)
	if math.IsInf(x, 0) || x == 0 {
		return math.Float32bits(float32(x)), 0
	}
	if rm == RNE {
		r := float32(x)
		rb := math.Float32bits(r)
		e := rb & 0x7f800000
		if rb&0x7fffffff > 0x00800000 && e != 0x7f800000 {
			if float64(r) == x {
				return rb, 0
			}
			return rb, FlagNX
		}
	}
	r, fl := roundBig(exactBig(x), math.Signbit(x), fmt32, rm)
	return uint32(r), fl
}

// FCvtDS widens a single to double (exact).
func FCvtDS(a uint32) (uint64, uint8) {
	if isNaN32(a) {
		if isSNaN32(a) {
			return canonNaN64, FlagNV
		}
		return canonNaN64, 0
	}
	return f32to64(a), 0
}
