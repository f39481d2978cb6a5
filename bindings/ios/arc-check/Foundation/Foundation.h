// A minimal stand-in for Apple's Foundation, declaring only what SGLibStatus uses,
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
@end

typedef NSUInteger NSStringEncoding;
enum { NSUTF8StringEncoding = 4 };
@class NSData;

@interface NSString : NSObject
- (nullable instancetype)initWithBytes:(const void *)bytes length:(NSUInteger)len encoding:(NSStringEncoding)encoding;
- (nullable const char *)UTF8String NS_RETURNS_INNER_POINTER;
- (NSUInteger)length;
- (BOOL)isEqualToString:(NSString *)aString;
- (nullable NSData *)dataUsingEncoding:(NSStringEncoding)encoding;
+ (instancetype)stringWithFormat:(NSString *)format, ...;
@end

@interface NSData : NSObject
@end

@interface NSDictionary<KeyType, ObjectType> : NSObject
- (nullable ObjectType)objectForKey:(KeyType)aKey;
@end

@interface NSMutableDictionary<KeyType, ObjectType> : NSDictionary<KeyType, ObjectType>
+ (instancetype)dictionaryWithObject:(ObjectType)object forKey:(KeyType)key;
- (void)setObject:(ObjectType)anObject forKey:(KeyType)aKey;
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
@end

NS_ASSUME_NONNULL_END
#endif
