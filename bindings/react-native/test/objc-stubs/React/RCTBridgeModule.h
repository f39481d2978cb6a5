// A minimal stub of React Native's <React/RCTBridgeModule.h>, for
// bindings/react-native/test.sh: just what ios/RNLibStatus.mm uses on the old
// architecture, so clang can check it without React Native or Xcode. The
// macros expand the way React Native's do (a +__rct_export__ method info per
// RCT_EXPORT_METHOD, then the - (void) method itself). Not shipped.
#pragma once
#import <Foundation/Foundation.h>

typedef void (^RCTPromiseResolveBlock)(id result);
typedef void (^RCTPromiseRejectBlock)(NSString *code, NSString *message, NSError *error);

typedef struct RCTMethodInfo {
  const char *const jsName;
  const char *const objcName;
  const BOOL isSync;
} RCTMethodInfo;

@protocol RCTBridgeModule <NSObject>
+ (NSString *)moduleName;
@optional
+ (BOOL)requiresMainQueueSetup;
@end

extern "C" void RCTRegisterModule(Class);

#define RCT_CONCAT2(A, B) A##B
#define RCT_CONCAT(A, B) RCT_CONCAT2(A, B)

#define RCT_EXPORT_MODULE(js_name)          \
  +(NSString *)moduleName { return @ #js_name; } \
  +(void)load { RCTRegisterModule(self); }

#define RCT_EXPORT_METHOD(method) RCT_REMAP_METHOD(, method)
#define RCT_REMAP_METHOD(js_name, method)                                                        \
  +(const RCTMethodInfo *)RCT_CONCAT(__rct_export__, RCT_CONCAT(js_name, RCT_CONCAT(__LINE__, __COUNTER__))) { \
    static RCTMethodInfo config = {#js_name, #method, NO};                                       \
    return &config;                                                                              \
  }                                                                                              \
  -(void)method
