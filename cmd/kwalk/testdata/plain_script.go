// A script with its own main: opens the dump named on the command line.
package main

import (
	"fmt"
	"os"

	"github.com/kwalk/kwalk"
)

func main() {
	prog, err := kwalk.Open(os.Args[1], kwalk.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	v, err := prog.Variable("jiffies")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	j, _ := v.Uint()
	fmt.Printf("jiffies=%d\n", j)
}
