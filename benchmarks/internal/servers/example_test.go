package servers_test

import (
	"fmt"
	"time"

	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

func ExamplePayload() {
	due := time.Unix(0, 1700000000123456789)
	p := servers.Payload(nil, 42, due, 64)
	seq, ns, ok := servers.ParsePayload(p)
	fmt.Println(len(p), seq, ns == due.UnixNano(), ok)
	// Output: 64 42 true true
}

func ExampleLookup() {
	c, ok := servers.Lookup("rxstream-sse")
	fmt.Println(ok, c.Transport, c.Kind)
	// Output: true sse rxstream
}
