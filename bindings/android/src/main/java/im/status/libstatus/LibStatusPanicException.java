package im.status.libstatus;

/**
 * A panic was caught inside libstatus (code {@code panic}); the process goes on and,
 * for users who opted in, the panic was reported. The message is the panic's
 * (sensitive JSON values masked). Also thrown by the JNI glue if it panics itself.
 */
public class LibStatusPanicException extends LibStatusException {
    private static final long serialVersionUID = 1L;

    public LibStatusPanicException(String message) {
        super(PANIC, message);
    }
}
