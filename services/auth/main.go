// Command auth runs the auth service: accounts, passwords, sessions and access tokens.
//
//	auth          serve (applies pending migrations first)
//	auth migrate  apply pending migrations and exit
package main

import "github.com/parleyhq/parley/platform/startup"

func main() {
	startup.Main(service())
}
