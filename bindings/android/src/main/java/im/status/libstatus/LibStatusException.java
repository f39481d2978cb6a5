package im.status.libstatus;

/**
 * An error answer of libstatus: {@code {"error":"<message>","code":"<code>"}}.
 *
 * <p>{@link #getCode()} is one of the C ABI's codes: {@code invalid-request},
 * {@code not-initialized}, {@code panic} (always a {@link LibStatusPanicException})
 * or {@code internal}. Unchecked, like status-go's bridge errors: callers catch it
 * where they can do something about it.
 */
public class LibStatusException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public static final String INVALID_REQUEST = "invalid-request";
    public static final String NOT_INITIALIZED = "not-initialized";
    public static final String PANIC = "panic";
    public static final String INTERNAL = "internal";

    private final String code;

    public LibStatusException(String code, String message) {
        super(message);
        this.code = code == null || code.isEmpty() ? INTERNAL : code;
    }

    /**
     * Code {@code internal}. The JNI glue throws this (with this constructor) when
     * it cannot hand an answer to Java, e.g. out of memory while creating the string.
     */
    public LibStatusException(String message) {
        this(INTERNAL, message);
    }

    /** The answer's {@code code}. */
    public String getCode() {
        return code;
    }
}
