package ir

import "math/bits"

// Eval computes a binary ALU operation. It is the reference semantics every
// backend must match (the backends' tests compare against it), and what a
// backend uses to fold constants.
func Eval(op Op, a, b uint64) uint64 {
	switch op {
	case Mov:
		return a
	case Add:
		return a + b
	case Sub:
		return a - b
	case And:
		return a & b
	case Or:
		return a | b
	case Xor:
		return a ^ b
	case Shl:
		return a << (b & 63)
	case Shr:
		return a >> (b & 63)
	case Sar:
		return uint64(int64(a) >> (b & 63))
	case SetLt:
		if int64(a) < int64(b) {
			return 1
		}
		return 0
	case SetLtu:
		if a < b {
			return 1
		}
		return 0
	case Mul:
		return a * b
	case MulH:
		return MulHigh(a, b)
	case MulHU:
		hi, _ := bits.Mul64(a, b)
		return hi
	case MulHSU:
		return MulHighSU(a, b)
	case Div:
		return DivS(a, b)
	case DivU:
		if b == 0 {
			return ^uint64(0)
		}
		return a / b
	case Rem:
		return RemS(a, b)
	case RemU:
		if b == 0 {
			return a
		}
		return a % b
	case AddW:
		return SExt32(a + b)
	case SubW:
		return SExt32(a - b)
	case ShlW:
		return SExt32(uint64(uint32(a) << (b & 31)))
	case ShrW:
		return SExt32(uint64(uint32(a) >> (b & 31)))
	case SarW:
		return uint64(int64(int32(a) >> (b & 31)))
	case MulW:
		return SExt32(uint64(uint32(a) * uint32(b)))
	case DivW:
		return DivSW(a, b)
	case DivUW:
		if uint32(b) == 0 {
			return ^uint64(0)
		}
		return SExt32(uint64(uint32(a) / uint32(b)))
	case RemW:
		return RemSW(a, b)
	case RemUW:
		if uint32(b) == 0 {
			return SExt32(a)
		}
		return SExt32(uint64(uint32(a) % uint32(b)))
	}
	panic("ir: Eval of " + op.String())
}

// SExt32 sign-extends the low 32 bits of v.
func SExt32(v uint64) uint64 { return uint64(int64(int32(v))) }

// MulHigh is the high half of the signed 128-bit product.
func MulHigh(a, b uint64) uint64 {
	hi, _ := bits.Mul64(a, b)
	if int64(a) < 0 {
		hi -= b
	}
	if int64(b) < 0 {
		hi -= a
	}
	return hi
}

// MulHighSU is the high half of signed a times unsigned b.
func MulHighSU(a, b uint64) uint64 {
	hi, _ := bits.Mul64(a, b)
	if int64(a) < 0 {
		hi -= b
	}
	return hi
}

// DivS is riscv's DIV: division by zero gives -1, MIN / -1 gives MIN.
func DivS(a, b uint64) uint64 {
	if b == 0 {
		return ^uint64(0)
	}
	if int64(b) == -1 {
		return -a // also MIN / -1 = MIN
	}
	return uint64(int64(a) / int64(b))
}

// RemS is riscv's REM: x % 0 = x, MIN % -1 = 0.
func RemS(a, b uint64) uint64 {
	if b == 0 {
		return a
	}
	if int64(b) == -1 {
		return 0
	}
	return uint64(int64(a) % int64(b))
}

// DivSW is riscv's DIVW.
func DivSW(a, b uint64) uint64 {
	x, y := int32(a), int32(b)
	if y == 0 {
		return ^uint64(0)
	}
	if y == -1 {
		return uint64(int64(-x)) // MIN / -1 wraps to MIN
	}
	return uint64(int64(x / y))
}

// RemSW is riscv's REMW.
func RemSW(a, b uint64) uint64 {
	x, y := int32(a), int32(b)
	if y == 0 {
		return uint64(int64(x))
	}
	if y == -1 {
		return 0
	}
	return uint64(int64(x % y))
}
