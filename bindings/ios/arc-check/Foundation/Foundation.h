// A minimal stand-in for Apple's Foundation, declaring only what SGLibStatus and
// SGPanicReportSender use,
// with Apple's signatures. Used by test.sh to compile SGLibStatus.m with clang
// -fobjc-arc -fsyntax-only on Linux (GNUstep's headers do not parse under clang
// with gcc's runtime), so ARC violations (retain/release/autorelease calls,
// ownership of out-parameters) fail the test here rather than in Xcode. Not for apps.
#ifndef SG_ARC_CHECK_FOUNDATION_H
#define SG_ARC_CHECK_FOUNDATION_H
#include <stddef.h>
#include <stdint.h>

typedef signed char BOOL;
#define YES ((BOOL)1)
#define NO ((BOOL)0)
typedef long NSInteger;
typedef unsigned long NSUInteger;
#define NS_ENUM(_type, _name) enum _name : _type _name; enum _name : _type
#define NS_ERROR_ENUM(_domain, _name) enum _name : NSInteger _name; enum __attribute__((ns_error_domain(_domain))) _name : NSInteger
#define NS_ASSUME_NONNULL_BEGIN _Pragma("clang assume_nonnull begin")
#define NS_ASSUME_NONNULL_END _Pragma("clang assume_nonnull end")
#define FOUNDATION_EXPORT extern __attribute__((visibility("default")))
#define NS_RETURNS_INNER_POINTER __attribute__((objc_returns_inner_pointer))
#ifndef nil
#define nil ((id)0)
#endif

NS_ASSUME_NONNULL_BEGIN

__attribute__((objc_root_class))
@interface NSObject
+ (instancetype)alloc;
- (instancetype)init;
+ (Class)class;
- (BOOL)isKindOfClass:(Class)aClass;
- (NSObject *)description;
- (instancetype)retain;
- (oneway void)release;
- (instancetype)autorelease;
- (id)mutableCopy;
@end

typedef double NSTimeInterval;

typedef NSUInteger NSStringEncoding;
enum { NSUTF8StringEncoding = 4 };
@class NSData;
@class NSError;

@interface NSString : NSObject
- (nullable instancetype)initWithBytes:(const void *)bytes length:(NSUInteger)len encoding:(NSStringEncoding)encoding;
- (nullable const char *)UTF8String NS_RETURNS_INNER_POINTER;
- (NSUInteger)length;
- (BOOL)isEqualToString:(NSString *)aString;
- (nullable NSData *)dataUsingEncoding:(NSStringEncoding)encoding;
+ (instancetype)stringWithFormat:(NSString *)format, ...;
@end

@interface NSData : NSObject
+ (instancetype)dataWithBytes:(const void *)bytes length:(NSUInteger)length;
@end

@interface NSString (SGData)
- (nullable instancetype)initWithData:(NSData *)data encoding:(NSStringEncoding)encoding;
@end

@interface NSNumber : NSObject
+ (NSNumber *)numberWithInt:(int)value;
+ (NSNumber *)numberWithInteger:(NSInteger)value;
- (BOOL)boolValue;
@end

typedef struct {
    unsigned long state;
    id __unsafe_unretained _Nullable *_Nullable itemsPtr;
    unsigned long *_Nullable mutationsPtr;
    unsigned long extra[5];
} NSFastEnumerationState;
@protocol NSFastEnumeration
- (NSUInteger)countByEnumeratingWithState:(NSFastEnumerationState *)state
                                  objects:(id __unsafe_unretained _Nullable[_Nonnull])buffer
                                    count:(NSUInteger)len;
@end

@interface NSDictionary<KeyType, ObjectType> : NSObject <NSFastEnumeration>
+ (instancetype)dictionaryWithObjects:(const ObjectType _Nonnull[_Nullable])objects
                              forKeys:(const KeyType _Nonnull[_Nullable])keys
                                count:(NSUInteger)cnt;
- (nullable ObjectType)objectForKey:(KeyType)aKey;
- (nullable ObjectType)objectForKeyedSubscript:(KeyType)key;
@end

@interface NSMutableDictionary<KeyType, ObjectType> : NSDictionary<KeyType, ObjectType>
+ (instancetype)dictionaryWithObject:(ObjectType)object forKey:(KeyType)key;
- (void)setObject:(ObjectType)anObject forKey:(KeyType)aKey;
- (void)setObject:(nullable ObjectType)obj forKeyedSubscript:(KeyType)key;
@end

@interface NSNotification : NSObject
@end

@interface NSNotificationCenter : NSObject
+ (NSNotificationCenter *)defaultCenter;
- (void)addObserver:(id)observer selector:(SEL)aSelector name:(nullable NSString *)aName object:(nullable id)anObject;
- (void)removeObserver:(id)observer;
- (void)postNotificationName:(NSString *)aName object:(nullable id)anObject;
@end

@interface NSCondition : NSObject
- (void)lock;
- (void)unlock;
- (void)wait;
- (void)signal;
@end

@interface NSThread : NSObject
- (instancetype)initWithTarget:(id)target selector:(SEL)selector object:(nullable id)argument;
@property (nullable, copy) NSString *name;
- (void)start;
+ (void)sleepForTimeInterval:(NSTimeInterval)ti;
@end

@interface NSURL : NSObject
+ (nullable instancetype)URLWithString:(NSString *)URLString;
@end

@interface NSURLRequest : NSObject
@end

@interface NSMutableURLRequest : NSURLRequest
+ (instancetype)requestWithURL:(NSURL *)URL;
@property (copy) NSString *HTTPMethod;
@property NSTimeInterval timeoutInterval;
@property (nullable, copy) NSData *HTTPBody;
- (void)setValue:(nullable NSString *)value forHTTPHeaderField:(NSString *)field;
@end

@interface NSURLResponse : NSObject
@end

@interface NSHTTPURLResponse : NSURLResponse
@property (readonly) NSInteger statusCode;
- (nullable NSString *)valueForHTTPHeaderField:(NSString *)field;
@end

@interface NSURLSessionTask : NSObject
- (void)resume;
- (void)cancel;
@end

@interface NSURLSessionDataTask : NSURLSessionTask
@end

@interface NSURLSession : NSObject
@property (class, readonly, strong) NSURLSession *sharedSession;
- (NSURLSessionDataTask *)dataTaskWithRequest:(NSURLRequest *)request
                            completionHandler:(void (^)(NSData *_Nullable data, NSURLResponse *_Nullable response,
                                                        NSError *_Nullable error))completionHandler;
@end

typedef NSString *NSErrorDomain;
FOUNDATION_EXPORT NSString *const NSLocalizedDescriptionKey;
FOUNDATION_EXPORT NSString *const NSLocalizedFailureReasonErrorKey;

@interface NSError : NSObject
+ (instancetype)errorWithDomain:(NSErrorDomain)domain code:(NSInteger)code
                       userInfo:(nullable NSDictionary<NSString *, id> *)dict;
- (NSString *)localizedDescription;
@end

typedef NSUInteger NSJSONReadingOptions;
@interface NSJSONSerialization : NSObject
+ (nullable id)JSONObjectWithData:(NSData *)data options:(NSJSONReadingOptions)opt
                            error:(NSError **)error;
+ (nullable NSData *)dataWithJSONObject:(id)obj options:(NSUInteger)opt error:(NSError **)error;
@end

NS_ASSUME_NONNULL_END
#endif
