# The iOS side of the LibStatus TurboModule. Build the library first:
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
  install_modules_dependencies(s)
end
