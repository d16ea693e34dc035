package pipenet_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/rxstream/rxstream/adapters/internal/pipenet"
)

// An http.Server and an http.Client connected through a Listener, the way a
// test uses them inside a synctest bubble.
func ExampleListener() {
	l := pipenet.Listen()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	go srv.Serve(l)
	defer srv.Close()
	client := l.Client()
	defer client.CloseIdleConnections()

	resp, err := client.Get("http://pipe/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello
}
