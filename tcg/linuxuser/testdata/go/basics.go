// basics exercises the Go runtime and library on the guest: maps, sorting,
// strings, formatting, math/big, hashing, goroutines and channels, and the
// garbage collector.
package main

import (
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

type node struct {
	left, right *node
	val         int
}

func build(d int) *node {
	if d == 0 {
		return &node{val: 1}
	}
	return &node{left: build(d - 1), right: build(d - 1), val: d}
}

func (n *node) sum() int {
	if n == nil {
		return 0
	}
	return n.val + n.left.sum() + n.right.sum()
}

func main() {
	m := map[string]int{}
	for i := 0; i < 5000; i++ {
		m[strconv.Itoa(i%777)] += i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println(len(m), keys[:5], m["42"])

	words := strings.Fields("the quick brown fox jumps over the lazy dog")
	sort.Slice(words, func(i, j int) bool { return words[i] < words[j] })
	fmt.Println(strings.Join(words, ","), strings.ToUpper(words[0]), strings.Repeat("ab", 3))

	f := new(big.Int).MulRange(1, 60)
	fmt.Println(f.String(), new(big.Int).Exp(big.NewInt(3), big.NewInt(200), big.NewInt(1000000007)))

	fmt.Printf("%x %08x\n", sha256.Sum256([]byte("govmm")), crc32.ChecksumIEEE([]byte("translator")))

	// Goroutines and channels.
	ch := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := 0
			for i := 0; i < 100000; i++ {
				s += i % (w + 3)
			}
			ch <- s
		}(w)
	}
	go func() { wg.Wait(); close(ch) }()
	total := 0
	for s := range ch {
		total += s
	}
	fmt.Println("total", total)

	// Allocation to make the collector run.
	s := 0
	for i := 0; i < 40; i++ {
		s += build(12).sum()
	}
	fmt.Println("trees", s)
	var mu sync.Mutex
	counter := 0
	var wg2 sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for j := 0; j < 1000; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	fmt.Println("counter", counter, len(os.Args))
}
