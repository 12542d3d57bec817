import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Ties a local cluster's worker to its parent: reads the standard input that the parent's
/// pipe feeds, and ends the process at end-of-file (the parent died, even by `kill -9`).
struct ParentProcessWatch {
  private static let handlerName = "parent-process-watch"
  private let channel: any Channel

  /// Starts watching on `group` when the parent asked for it; nil otherwise.
  static func start(on group: any EventLoopGroup, logger: Logger) async -> ParentProcessWatch? {
    guard SystemProcessInfo.watchesParentThroughStandardInput else { return nil }
    let descriptor = dup(STDIN_FILENO)
    guard descriptor >= 0 else { return nil }
    do {
      let channel = try await NIOPipeBootstrap(group: group)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
              EndOfInputHandler(logger: logger), name: handlerName)
          }
        }
        .takingOwnershipOfDescriptor(input: descriptor).get()
      return ParentProcessWatch(channel: channel)
    } catch {
      close(descriptor)
      logger.warning("cannot watch the parent process through standard input: \(error)")
      return nil
    }
  }

  /// Stops watching, before the worker shuts its event loops down: the input closing then is
  /// the worker's own doing, not its parent's death.
  func stop() async {
    try? await channel.pipeline.removeHandler(name: Self.handlerName).get()
    try? await channel.close()
  }
}

/// Ends the process when its input closes.
private final class EndOfInputHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer
  let logger: Logger

  init(logger: Logger) { self.logger = logger }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case ChannelEvent.inputClosed = event { parentGone() }
  }

  func channelInactive(context: ChannelHandlerContext) { parentGone() }

  func errorCaught(context: ChannelHandlerContext, error: any Error) { parentGone() }

  private func parentGone() -> Never {
    logger.error("the parent process (the local cluster's scheduler) is gone; the worker stops")
    SystemProcessInfo.terminate(status: 1)
  }
}
