## Host-style test of the Nim binding against the real libstatus.
##
##   nim c -r --threads:on --gc:orc -d:useMalloc -d:libstatusLibDir=<dir> test_libstatus.nim
##
## Prints "ok - ..." / "FAIL - ..." per check and ends with "N passed, M failed";
## exits non-zero on any failure. LIBSTATUS_TEST_ROUNDS sets the rounds per thread.

import std/[json, os, strutils, tempfiles, unicode]
import ./libstatus

var passed, failed: int

template check(title: string, body: untyped) =
  try:
    body
    inc passed
    echo "ok - ", title
  except CatchableError as e:
    inc failed
    echo "FAIL - ", title, ": ", e.name, ": ", e.msg
  flushFile(stdout)

proc expect(cond: bool, what: string) =
  if not cond: raise newException(CatchableError, what)

template expectRaises(T: typedesc, body: untyped): ref T =
  ## Runs body, which must raise exactly a T (or subtype); returns the exception.
  var caught: ref T = nil
  try:
    discard body
  except T as e:
    caught = e
  if caught.isNil:
    raise newException(CatchableError, "expected " & $T & ", nothing raised")
  caught

const emojiMsg = "💥 emoji 😀"

# ---- before init, invalid requests -----------------------------------------------

check "getCentralizedMetricsInfo before initializeApplication raises not-initialized":
  let e = expectRaises(LibStatusError, getCentralizedMetricsInfo())
  expect e.code == codeNotInitialized, "code was " & e.code
  expect not (e of LibStatusPanic), "must not be a LibStatusPanic"
  expect e.msg.len > 0, "empty message"

check "panicReports before initializeApplication raises not-initialized":
  let e = expectRaises(LibStatusError, panicReports("{}"))
  expect e.code == codeNotInitialized, "code was " & e.code

check "initializeApplication(malformed JSON) raises invalid-request":
  let e = expectRaises(LibStatusError, initializeApplication("{not json"))
  expect e.code == codeInvalidRequest, "code was " & e.code & ": " & e.answer

check "initializeApplication({}) without dataDir raises invalid-request":
  let e = expectRaises(LibStatusError, initializeApplication("{}"))
  expect e.code == codeInvalidRequest, "code was " & e.code & ": " & e.answer

# ---- init and consent -----------------------------------------------------------------

let dataDir = createTempDir("libstatus-nim-test-", "")

check "initializeApplication(temp dataDir) answers centralizedMetricsInfo and panicReporting":
  let answer = parseJson(initializeApplication($(%*{"dataDir": dataDir, "logEnabled": false})))
  expect not answer.hasKey("error"), "payload answer must not carry error: " & $answer
  expect answer{"centralizedMetricsInfo", "enabled"}.kind == JBool, $answer
  expect answer{"panicReporting", "active"}.kind == JBool, $answer

check "toggleCentralizedMetrics(enabled: true) answers {\"error\":\"\"}":
  let answer = toggleCentralizedMetrics("""{"enabled":true}""")
  expect answer == """{"error":""}""", answer
  let info = parseJson(getCentralizedMetricsInfo())
  expect info["enabled"].getBool and info["userConfirmed"].getBool, $info

check "toggleCentralizedMetrics(enabled: false) opts out, userConfirmed stays true":
  discard toggleCentralizedMetrics("""{"enabled":false}""")
  let info = parseJson(getCentralizedMetricsInfo())
  expect not info["enabled"].getBool and info["userConfirmed"].getBool, $info

check "toggleCentralizedMetrics(malformed) raises invalid-request":
  let e = expectRaises(LibStatusError, toggleCentralizedMetrics("[1,2"))
  expect e.code == codeInvalidRequest, "code was " & e.code

# ---- panics ------------------------------------------------------------------------------

check "intendedPanic raises LibStatusPanic (a LibStatusError) carrying the message":
  let e = expectRaises(LibStatusPanic, intendedPanic("boom from Nim"))
  expect e of LibStatusError, "LibStatusPanic must be a LibStatusError"
  expect e.code == codePanic, "code was " & e.code
  expect e.msg == "boom from Nim", "message was " & e.msg

check "non-BMP characters round-trip through intendedPanic":
  let e = expectRaises(LibStatusPanic, intendedPanic(emojiMsg))
  expect e.msg == emojiMsg, "message was " & e.msg & " (" & e.answer & ")"
  expect validateUtf8(e.msg) == -1, "bad UTF-8"

check "request JSON with non-BMP characters in an unknown key is accepted":
  expect toggleCentralizedMetrics($(%*{"enabled": false, "note": emojiMsg})) == """{"error":""}""", "raw UTF-8"
  expect toggleCentralizedMetrics("""{"enabled":false,"note":"\ud83d\udca5"}""") == """{"error":""}""", "escaped pair"

# ---- the raw layer, nim-status-go style -----------------------------------------------------

check "raw importc layer: copy, then free (nim-status-go style)":
  let raw = centralizedMetricsInfo()
  let copy = $raw
  free(raw)
  expect parseJson(copy).hasKey("userConfirmed"), copy
  free(nil)

# ---- several host threads at once -----------------------------------------------------------

const threadCount = 8
var rounds = 25
if existsEnv("LIBSTATUS_TEST_ROUNDS"):
  try: rounds = parseInt(getEnv("LIBSTATUS_TEST_ROUNDS")) except ValueError: discard

var bad: array[threadCount, int]   # written only by thread i, read after joinThreads
var roundsShared: int

proc worker(id: int) {.thread.} =
  for i in 0 ..< roundsShared:
    try:
      if toggleCentralizedMetrics(if (id + i) mod 2 == 0: """{"enabled":true}""" else: """{"enabled":false}""") != """{"error":""}""":
        inc bad[id]
      if not getCentralizedMetricsInfo().contains("\"userConfirmed\":true"):
        inc bad[id]
    except LibStatusError:
      inc bad[id]
    let message = "thread " & $id & " round " & $i & " " & emojiMsg
    try:
      discard intendedPanic(message)
      inc bad[id]                    # must have raised
    except LibStatusPanic as e:
      if e.msg != message: inc bad[id]
    except LibStatusError:
      inc bad[id]

check "8 host threads call toggle/info/panic at once":
  roundsShared = rounds
  var threads: array[threadCount, Thread[int]]
  for i in 0 ..< threadCount:
    createThread(threads[i], worker, i)
  joinThreads(threads)
  var total = 0
  for b in bad: total += b
  expect total == 0, $total & " bad answers"

# ---- background panic, flush -----------------------------------------------------------------

check "intendedBackgroundPanic answers {\"error\":\"\"} and the host survives":
  expect intendedBackgroundPanic("background boom from Nim") == """{"error":""}""", "answer"
  expect flushPanicReports(2000) >= 0, "pending count"
  discard getCentralizedMetricsInfo()

# ---- what is sent: panicReports, deletePanicReports ----------------------------------------

check "panicReports answers pending, sent and dropped":
  let answer = parseJson(panicReports("""{"limit":10}"""))
  expect answer["pending"].kind == JArray, "pending"
  expect answer["sent"].kind == JArray, "sent"
  expect answer["dropped"]["stormControl"].kind == JInt, "dropped"

check "deletePanicReports deletes by id or all, and refuses neither":
  expect deletePanicReports("""{"ids":["no-such-report"]}""") ==
    """{"error":"","deleted":0,"notPending":1}""", "unknown id"
  let all = parseJson(deletePanicReports("""{"all":true}"""))
  expect all["deleted"].kind == JInt, "deleted count"
  expect parseJson(panicReports("{}"))["pending"].len == 0, "nothing pending after all"
  let e = expectRaises(LibStatusError, deletePanicReports("{}"))
  expect e.code == codeInvalidRequest, "code was " & e.code

echo "dataDir: ", dataDir
echo passed, " passed, ", failed, " failed"
quit(if failed == 0: 0 else: 1)
