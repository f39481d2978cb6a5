# The iOS side of the LibStatus native module (TurboModule or bridge module). Build the library first:
#   OUT=<this package>/ios bindings/ios/build-xcframework.sh
# (LibStatus.xcframework: the static libstatus with include/libstatus.h).
require "json"

package = JSON.parse(File.read(File.join(__dir__, "package.json")))

Pod::Spec.new do |s|
  s.name         = "libstatus-react-native"
  s.version      = package["version"]
  s.summary      = package["description"]
  s.license      = package["license"]
  s.homepage     = "https://github.com/status-im"
  s.authors      = "Status"
  s.platforms    = { :ios => "15.1" }
  s.source       = { :path => "." }
  s.source_files = "ios/**/*.{h,m,mm}"
  s.vendored_frameworks = "ios/LibStatus.xcframework"
  # Both architectures from one pod (create-react-native-library's template):
  # React Native 0.71+ has install_modules_dependencies, which adds the
  # TurboModule dependencies and -DRCT_NEW_ARCH_ENABLED=1 when the app is built
  # with RCT_NEW_ARCH_ENABLED=1; otherwise RNLibStatus.mm is a bridge module.
  if respond_to?(:install_modules_dependencies, true)
    install_modules_dependencies(s)
  else
    s.dependency "React-Core"
  end
end
