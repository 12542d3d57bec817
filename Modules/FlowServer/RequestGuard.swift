import FlowCore
import Foundation
import HTTPTypes
import Hummingbird

/// Turns every error a route throws into a JSON body (or a small HTML page for a page route)
/// with a 4xx status for bad input: never a bare 500 for something the client sent.
struct ErrorMiddleware: RouterMiddleware {
  typealias Context = BasicRequestContext

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    do {
      return try await next(request, context)
    } catch {
      var apiError = APIError.from(error)
      let api = request.uri.path.hasPrefix("/api/") || request.uri.path == "/metrics"
      if let error = error as? HTTPError, error.status == .notFound, error.body == nil {
        // No route matched: name what was asked for and where the routes are listed.
        apiError.message =
          "no route for \(request.method) \(request.uri.path)"
          + (api ? "; the API's routes are listed at /api/openapi.json" : "")
      }
      if api {
        return ServerJSON.response(apiError.body, status: apiError.status)
      }
      return HTMLResponse.page(
        Layout.page(
          title: "\(apiError.status.code) \(apiError.status.reasonPhrase)",
          body: """
            <h1>\(apiError.status.code) \(apiError.status.reasonPhrase)</h1>
            <p class="error">\(apiError.message)</p><p><a href="/runs">Back to the runs</a></p>
            """), status: apiError.status)
    }
  }
}

/// What every request passes before its route: the body size limit, the token when one is
/// configured, and, for a state-changing request, a check that it comes from our own pages
/// (cross-site request forgery).
struct RequestGuard: RouterMiddleware {
  typealias Context = BasicRequestContext
  let configuration: FlowServerConfiguration

  /// The cookie holding the token after `/login`.
  static let tokenCookie = "flow_token"
  /// The cookie and form field of the cross-site request token (double submit).
  static let csrfCookie = "flow_csrf"
  static let csrfField = "csrf"

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    if let length = request.headers[.contentLength].flatMap({ Int($0) }),
      length > configuration.maxBodyBytes
    {
      throw APIError(
        status: .contentTooLarge, code: "bodyTooLarge",
        message: "the request body has \(length) bytes; the server accepts at most "
          + "\(configuration.maxBodyBytes)")
    }
    let unsafe = ![.get, .head, .options].contains(request.method)
    if unsafe { try checkSameOrigin(request) }
    if let token = configuration.token, !isPublic(request.uri.path),
      !Self.authorized(request, token: token)
    {
      if request.uri.path.hasPrefix("/api/") || request.uri.path == "/metrics" {
        throw APIError(
          status: .unauthorized, code: "unauthorized",
          message: "this server needs its token: send `Authorization: Bearer TOKEN`")
      }
      return Response(status: .seeOther, headers: [.location: "/login"])
    }
    return try await next(request, context)
  }

  private func isPublic(_ path: String) -> Bool {
    path == "/login" || path.hasPrefix("/assets/") || path == "/healthz"
  }

  /// Whether `request` carries `token` as a bearer token or in the login cookie.
  static func authorized(_ request: Request, token: String) -> Bool {
    if let header = request.headers[.authorization], header.hasPrefix("Bearer "),
      constantTimeEqual(String(header.dropFirst(7)), token)
    {
      return true
    }
    return cookie(tokenCookie, in: request).map { constantTimeEqual($0, token) } ?? false
  }

  /// A state-changing request must come from this server's own pages: a browser sends
  /// `Origin` (and `Sec-Fetch-Site`) with it, and they must name this host.
  private func checkSameOrigin(_ request: Request) throws {
    if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!],
      site != "same-origin", site != "none"
    {
      throw APIError(
        status: .forbidden, code: "crossSite",
        message: "refused a cross-site request (Sec-Fetch-Site: \(site))")
    }
    if let origin = request.headers[.origin], origin != "null" {
      let host = request.head.authority ?? ""
      let originHost = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst()
        .first.map(String.init)
      if originHost != host {
        throw APIError(
          status: .forbidden, code: "crossSite",
          message: "refused a cross-site request from \(origin) (this server is \(host))")
      }
    }
  }

  /// The value of cookie `name` in `request`.
  static func cookie(_ name: String, in request: Request) -> String? {
    for header in request.headers[values: .cookie] {
      for part in header.split(separator: ";") {
        let pair = part.trimmingCharacters(in: .whitespaces)
        if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
      }
    }
    return nil
  }

  /// Compares two secrets in time that does not depend on where they differ.
  static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for index in x.indices { difference |= x[index] ^ y[index] }
    return difference == 0
  }
}
