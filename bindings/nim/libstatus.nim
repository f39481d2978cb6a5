## Nim binding of libstatus, in the shape of nim-status-go.
##
## Two layers:
##
## * The raw C ABI (`initializeApplication(paramsJSON: cstring): cstring`, ...):
##   one `importc` per export, exactly as nim-status-go declares status-go's.
##   Every `cstring` they return belongs to the library and must be given back
##   to `free` exactly once.
## * Safe wrappers taking and returning Nim `string`s: they copy the answer,
##   give it back to `free` (always, even when raising), and raise
##   `LibStatusError` (or its subtype `LibStatusPanic` for code "panic") when the
##   answer's `error` is non-empty. On success they return the answer JSON.
##
## Linking happens at build time, never through `dynlib`:
##
## .. code-block:: sh
##   nim c --threads:on -d:libstatusLibDir=/path/to/target/debug app.nim
##   # static archive instead of the shared library:
##   nim c --threads:on -d:libstatusStatic -d:libstatusLibDir=/path/to/target/debug app.nim
##
## `-d:libstatusHeader=/path/to/include/libstatus.h` makes the C compiler check
## these declarations against the real header (test.sh does this).

import std/json

const
  libstatusLibDir* {.strdefine.} = ""
    ## Directory holding libstatus.so / libstatus.a; empty: the linker's default paths.
  libstatusHeader* {.strdefine.} = ""
    ## Full path of libstatus.h; empty: Nim emits its own prototypes (as nim-status-go does).

when libstatusLibDir.len > 0:
  {.passL: "-L" & libstatusLibDir.}
when defined(libstatusStatic):
  when libstatusLibDir.len > 0:
    {.passL: libstatusLibDir & "/libstatus.a".}
  else:
    {.passL: "-l:libstatus.a".}
  # What Rust's std needs from the system (`cargo rustc -- --print native-static-libs`).
  when defined(macosx):
    {.passL: "-framework CoreFoundation -framework Security -liconv".}
  else:
    {.passL: "-lgcc_s -lutil -lrt -lpthread -lm -ldl".}
else:
  {.passL: "-lstatus".}
  when libstatusLibDir.len > 0 and not defined(macosx):
    {.passL: "-Wl,-rpath," & libstatusLibDir.}

# ---- the raw C ABI ----------------------------------------------------------

when libstatusHeader.len > 0:
  {.pragma: libstatusImport, cdecl, header: libstatusHeader.}
else:
  {.pragma: libstatusImport, cdecl.}

{.push raises: [], gcsafe.}

proc initializeApplication*(paramsJSON: cstring): cstring {.importc: "InitializeApplication", libstatusImport.}
  ## `{"dataDir": "...", ...}` -> `{"centralizedMetricsInfo": {...}, "panicReporting": {...}}`
proc toggleCentralizedMetrics*(paramsJSON: cstring): cstring {.importc: "ToggleCentralizedMetrics", libstatusImport.}
  ## `{"enabled": true}` -> `{"error":""}`
proc centralizedMetricsInfo*(): cstring {.importc: "CentralizedMetricsInfo", libstatusImport.}
  ## -> `{"enabled": b, "userConfirmed": b}`
proc intendedPanic*(message: cstring): cstring {.importc: "IntendedPanic", libstatusImport.}
  ## Panics inside the library's guard -> `{"error": message, "code": "panic"}`
proc intendedBackgroundPanic*(message: cstring): cstring {.importc: "IntendedBackgroundPanic", libstatusImport.}
  ## A library thread panics -> `{"error":""}`
proc flushPanicReports*(timeoutMs: cint): cstring {.importc: "FlushPanicReports", libstatusImport.}
  ## -> `{"error":"", "pending": N}`
proc panicReports*(requestJSON: cstring): cstring {.importc: "PanicReports", libstatusImport.}
  ## `{"after": id, "limit": N}` -> `{"error":"", "pending": [...], "sent": [...], "dropped": {...}, ...}`
proc deletePanicReports*(requestJSON: cstring): cstring {.importc: "DeletePanicReports", libstatusImport.}
  ## `{"ids": [...]}` or `{"all": true}` -> `{"error":"", "deleted": N, "notPending": M}`
proc free*(param: pointer) {.importc: "Free", libstatusImport.}
  ## Gives an answer back to the library. `nil` is fine. Never use C's `free` on answers.

{.pop.}

# ---- errors -------------------------------------------------------------------

type
  LibStatusError* = object of CatchableError
    ## An answer whose `error` was non-empty. `msg` is the library's message.
    code*: string
      ## The library's error code: "invalid-request", "not-initialized",
      ## "internal", or "panic" (then the exception is a `LibStatusPanic`).
      ## "invalid-answer" means the binding could not read the answer at all.
    answer*: string
      ## The full answer JSON, for logging.
  LibStatusPanic* = object of LibStatusError
    ## The library caught a panic (a bug in the library) and answered instead of
    ## crashing the host; it was reported to Sentry if the user opted in.

const
  codeInvalidRequest* = "invalid-request"
  codeNotInitialized* = "not-initialized"
  codePanic* = "panic"
  codeInternal* = "internal"
  codeInvalidAnswer* = "invalid-answer" ## binding-side: no answer, or not a JSON object

proc newLibStatusError(code, msg, answer: string): ref LibStatusError =
  if code == codePanic:
    result = (ref LibStatusPanic)(msg: msg, code: code, answer: answer)
  else:
    result = (ref LibStatusError)(msg: msg, code: code, answer: answer)

proc parseAnswer(answer: string): JsonNode {.raises: [LibStatusError].} =
  try:
    # Nim 1.6's parseJson is annotated as raising Exception (its stream layer);
    # on a string it raises only JsonParsingError/ValueError, caught below.
    {.cast(raises: [CatchableError]).}:
      result = parseJson(answer)
  except CatchableError as e:
    raise newLibStatusError(codeInvalidAnswer, "unreadable answer: " & e.msg, answer)
  if result.kind != JObject:
    raise newLibStatusError(codeInvalidAnswer, "answer is not a JSON object", answer)

proc takeAnswer(answer: cstring): string {.raises: [LibStatusError].} =
  ## Copies the answer into a Nim string, gives it back to the library exactly
  ## once, and raises if it is an error.
  if answer.isNil:
    raise newLibStatusError(codeInvalidAnswer, "libstatus returned no answer", "")
  # A local, not `result`: Nim 1.6's ARC/ORC does not destroy `result` when the
  # proc raises, which would leak the copy on every error answer.
  let text = $answer
  free(answer)
  let node = parseAnswer(text)
  let error = node.getOrDefault("error")
  if not error.isNil and error.kind == JString and error.getStr.len > 0:
    let code = node.getOrDefault("code")
    raise newLibStatusError(
      if not code.isNil and code.kind == JString: code.getStr else: codeInternal,
      error.getStr, text)
  text

# ---- safe wrappers: Nim strings in and out, errors raised -----------------------

{.push raises: [LibStatusError], gcsafe.}

proc initializeApplication*(requestJSON: string): string =
  ## Returns the answer JSON (`centralizedMetricsInfo`, `panicReporting`).
  takeAnswer(initializeApplication(requestJSON.cstring))

proc toggleCentralizedMetrics*(requestJSON: string): string =
  ## Records the user's consent, e.g. `toggleCentralizedMetrics("""{"enabled":true}""")`.
  takeAnswer(toggleCentralizedMetrics(requestJSON.cstring))

proc getCentralizedMetricsInfo*(): string =
  ## Returns `{"enabled": b, "userConfirmed": b}`.
  ## (Named `get...` because `centralizedMetricsInfo()` is the raw import.)
  takeAnswer(centralizedMetricsInfo())

proc intendedPanic*(message: string): string =
  ## Always raises `LibStatusPanic` carrying `message`.
  takeAnswer(intendedPanic(message.cstring))

proc intendedBackgroundPanic*(message: string): string =
  takeAnswer(intendedBackgroundPanic(message.cstring))

proc flushPanicReports*(timeoutMs: int): int =
  ## Waits up to `timeoutMs` for queued panic reports; returns how many are still pending.
  let answer = takeAnswer(flushPanicReports(timeoutMs.clamp(0, high(cint).int).cint))
  let pending = parseAnswer(answer){"pending"}
  if pending.isNil or pending.kind != JInt:
    raise newLibStatusError(codeInvalidAnswer, "answer has no pending count", answer)
  pending.getInt

proc panicReports*(requestJSON: string): string =
  ## What the user can see of the panic reports, e.g. `panicReports("{}")`: every
  ## pending report with the exact body that will be sent, the delivered ones,
  ## the counts of what was removed (see the README's "PanicReports").
  takeAnswer(panicReports(requestJSON.cstring))

proc deletePanicReports*(requestJSON: string): string =
  ## Deletes pending reports for good: `{"ids": [...]}` or `{"all": true}`.
  takeAnswer(deletePanicReports(requestJSON.cstring))

{.pop.}
