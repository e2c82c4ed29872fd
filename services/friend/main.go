// Command friend runs the friend service: friend requests, friendships and blocks.
//
//	friend          serve (applies pending migrations first)
//	friend migrate  apply pending migrations and exit
package main

import "github.com/parleyhq/parley/platform/startup"

func main() {
	startup.Main(service())
}
