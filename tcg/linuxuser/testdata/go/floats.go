// floats prints the results of floating-point library code: formatting and
// parsing, elementary functions, conversions, single precision.
package main

import (
	"fmt"
	"math"
	"strconv"
)

func main() {
	vals := []float64{0, -0.0, 1, -1, 0.1, 1e-310, 5e-324, math.MaxFloat64, math.SmallestNonzeroFloat64,
		math.Inf(1), math.Inf(-1), math.NaN(), 3.141592653589793, 2.5, -2.5, 1e21, 123456789.125}
	for _, v := range vals {
		fmt.Println(v, strconv.FormatFloat(v, 'e', -1, 64), strconv.FormatFloat(v, 'g', 5, 32),
			math.Sqrt(v), math.Floor(v), math.Trunc(v), int64(v)>>1, math.Float64bits(v)>>40)
	}
	for _, s := range []string{"1.5", "1e308", "1e309", "2.2250738585072011e-308", "0x1p-1074", "-0", "nan", "4.9406564584124654e-324"} {
		v, err := strconv.ParseFloat(s, 64)
		fmt.Println(s, v, err != nil, math.Float64bits(v))
	}
	x := 0.0
	for i := 1; i <= 200; i++ {
		f := float64(i)
		x += math.Sin(f)*math.Exp(-f/50) + math.Log(f)*math.Atan(f) - math.Pow(f, 0.37) + math.Hypot(f, 3)/math.Cbrt(f)
	}
	fmt.Printf("%.17g\n", x)
	var s32 float32 = 1
	for i := 0; i < 100; i++ {
		s32 = s32*1.0001 + float32(i)/7
	}
	big, neg := float32(3e9), float32(-2.5e8)
	fmt.Println(s32, math.Float32bits(s32), float32(math.Pi), uint32(big), int32(neg))
	fmt.Println(math.FMA(0.1, 10, -1), math.Mod(7.5, 2), math.Remainder(7.5, 2))
	fr, ex := math.Frexp(1e-300)
	fmt.Println(fr, ex)
	u := uint64(1<<63 + 12345)
	fmt.Println(float64(u), uint64(float64(u)), float32(u), int64(-1<<62)/3, float64(int64(-1<<62)))
}
