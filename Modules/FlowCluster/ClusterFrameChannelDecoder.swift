import FlowClusterCore
import NIOCore

/// Splits the byte stream into frames and decodes them; an oversized, malformed or truncated
/// frame is an error (the connection's handler closes it with the reason).
struct ClusterFrameChannelDecoder: ByteToMessageDecoder {
  typealias InboundOut = [ClusterMessage]
  let maxFrameSize: Int

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws
    -> DecodingState
  {
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
      return .needMoreData
    }
    if let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
      let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self),
      (0x14...0x17).contains(first), second == 0x03
    {
      throw ClusterProtocolError(
        .malformedFrame,
        "the peer speaks TLS and this side does not: give both sides the same TLS settings "
          + "(the scheduler a certificate and key, workers --tls-trust-roots)")
    }
    guard length <= maxFrameSize else {
      throw ClusterProtocolError(
        .oversizedFrame,
        "a frame of \(length) bytes exceeds the limit of \(maxFrameSize) bytes; send smaller "
          + "task inputs and outputs (persist big values in a result store)")
    }
    guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    let body = buffer.readBytes(length: Int(length))!
    let messages = try ClusterWireFormat.decodeBody(body)
    context.fireChannelRead(wrapInboundOut(messages))
    return .continue
  }

  mutating func decodeLast(
    context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
  ) throws -> DecodingState {
    while try decode(context: context, buffer: &buffer) == .continue {}
    if buffer.readableBytes > 0 {
      let left = buffer.readableBytes
      buffer.clear()
      throw ClusterProtocolError(
        .truncated, "the connection closed in the middle of a frame (\(left) bytes left)")
    }
    return .needMoreData
  }
}

extension Duration {
  var timeAmount: TimeAmount {
    let (seconds, attoseconds) = components
    return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
  }
}
