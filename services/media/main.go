// Command media runs the media service: avatars and chat attachments in S3, checked on upload.
//
//	media          serve (applies pending migrations first)
//	media migrate  apply pending migrations and exit
package main

import "github.com/parleyhq/parley/platform/startup"

func main() {
	startup.Main(service())
}
