// Package taptest builds throwaway network topologies around tap devices for
// tests of package tap and of virtio-net: private network namespaces, a tap
// bridged to a veth pair whose far end a test can capture on (NewTapPeer), and
// the bottleneck topology in which a bounded tap send buffer turns into
// backpressure (NewBottleneck). It also builds and parses Ethernet/IPv4/UDP
// frames.
//
// Everything a helper creates lives in network namespaces the helper created, so
// the host's interfaces, routes and sysctls are never touched, names cannot
// collide with anything outside, and the kernel deletes the interfaces when the
// namespaces go away (at t.Cleanup, or when the test process dies). Helpers skip
// the test with a one-line reason when not root or when the kernel lacks a
// feature they need.
package taptest
