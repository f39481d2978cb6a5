// A minimal stub of <Foundation/Foundation.h> (and the libdispatch calls it
// brings in on Apple platforms), with Apple's signatures for just what
// ios/RNLibStatus.mm uses, for bindings/react-native/test.sh (GNUstep's headers
// do not parse under clang with gcc's runtime). Not shipped.
#pragma once
typedef signed char BOOL;
#define YES ((BOOL)1)
#define NO ((BOOL)0)
#define nil ((id)0)
typedef unsigned long NSUInteger;

@interface NSObject
+ (instancetype)alloc;
- (instancetype)init;
- (id)copy;
@end
@protocol NSObject
@end
@interface NSString : NSObject
+ (instancetype)stringWithUTF8String:(const char *)s;
@property (readonly) const char *UTF8String;
@end
@interface NSError : NSObject
@end

typedef struct dispatch_queue_s *dispatch_queue_t;
typedef struct dispatch_queue_attr_s *dispatch_queue_attr_t;
extern "C" dispatch_queue_t dispatch_queue_create(const char *label, dispatch_queue_attr_t attr);
extern "C" void dispatch_async(dispatch_queue_t queue, void (^block)(void));
extern "C" struct dispatch_queue_attr_s _dispatch_queue_attr_concurrent;
#define DISPATCH_QUEUE_CONCURRENT (&_dispatch_queue_attr_concurrent)
