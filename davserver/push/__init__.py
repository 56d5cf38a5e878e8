"""WebDAV-Push (draft by the DAVx5 authors, https://github.com/bitfireAT/webdav-push):
registration of Web Push subscriptions on calendars and the messages sent after changes."""

NS = "https://bitfire.at/webdav-push"
