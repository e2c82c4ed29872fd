// Command chat runs the chat service: one-to-one chats between friends, their messages and read
// cursors.
//
//	chat          serve (applies pending migrations first)
//	chat migrate  apply pending migrations and exit
package main

import "github.com/parleyhq/parley/platform/startup"

func main() {
	startup.Main(service())
}
