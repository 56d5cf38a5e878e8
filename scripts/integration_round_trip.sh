#!/bin/sh
# A complete round trip between a practice software and praxis-caldav (docs/integration.md):
# nightly snapshot import, a device creates an appointment over CalDAV, the practice software
# reads it from the change feed and imports it back with its own id (linked by server_id).
# Runs on a throw-away SQLite database and port; needs curl and jq.
#   sh scripts/integration_round_trip.sh
set -eu
cd "$(dirname "$0")/.."
CLI="${PRAXIS_CALDAV:-.venv/bin/praxis-caldav}"
WORK=$(mktemp -d)
DB="sqlite:///$WORK/praxis.db"
PORT=${PORT:-8742}
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "== 1. nightly snapshot (dry run first, then for real)"
"$CLI" --database "$DB" import docs/import-example.json --snapshot practitioner --dry-run
"$CLI" --database "$DB" import docs/import-example.json --snapshot practitioner

echo "== 2. a device creates an appointment"
"$CLI" --database "$DB" serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.5; done
curl -sf -u "anna maier:initial-secret" -X PUT -H "Content-Type: text/calendar" \
  "http://127.0.0.1:$PORT/anna_maier/calendar/phone-1.ics" --data-binary @- <<'ICS'
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//round trip//EN
BEGIN:VEVENT
UID:phone-1@example.org
DTSTAMP:20261201T080000Z
DTSTART;TZID=Europe/Vienna:20261203T140000
DTEND;TZID=Europe/Vienna:20261203T141500
SUMMARY:Rückruf
END:VEVENT
END:VCALENDAR
ICS

echo "== 3. the practice software reads the feed from its stored cursor (0 the first time)"
"$CLI" --database "$DB" changes --since 0 --practice praxis-1 | tee "$WORK/feed.jsonl"
CURSOR=$(tail -n 1 "$WORK/feed.jsonl" | jq .cursor)
echo "store cursor $CURSOR"

echo "== 4. it gives the new appointment its own id and imports it back"
jq -s '{practice: {id: "praxis-1", name: "Praxis am Park"},
        practitioners: [{id: "u-17", username: "anna maier", password: "initial-secret"}],
        appointments: [.[] | select(.kind == "created") | .appointment + {id: "t-9100"}]}' \
  "$WORK/feed.jsonl" >"$WORK/back.json"
"$CLI" --database "$DB" import "$WORK/back.json"

echo "== 5. linked, not duplicated; and the import is not echoed in the feed"
test "$(curl -s -u "anna maier:initial-secret" -X PROPFIND -H "Depth: 1" \
  "http://127.0.0.1:$PORT/anna_maier/calendar/" | grep -o '\.ics</' | wc -l)" -eq 4
test -z "$("$CLI" --database "$DB" changes --since "$CURSOR" --practice praxis-1)"
echo "round trip complete"
