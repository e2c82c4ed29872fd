// Command profile runs the profile service: public profiles, nicknames, user search and avatars.
//
//	profile          serve (applies pending migrations first)
//	profile migrate  apply pending migrations and exit
package main

import "github.com/parleyhq/parley/platform/startup"

func main() {
	startup.Main(service())
}
