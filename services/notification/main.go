// Command notification runs the notification service: in-app notifications, preferences, and the
// email channel (immediate emails and per-chat digests of missed messages).
//
//	notification          serve (applies pending migrations first)
//	notification migrate  apply pending migrations and exit
package main

import "github.com/parleyhq/parley/platform/startup"

func main() {
	startup.Main(service())
}
