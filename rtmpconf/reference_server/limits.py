"""Named limits of the reference server, each with the reason for its default.

Every value is overridable in the config file (``[limits]`` table) or ServerConfig.
"""

from __future__ import annotations

#: A peer must finish C0..C2 within this many seconds (ROB-4; nginx uses 60 s, SRS 30 s).
HANDSHAKE_TIMEOUT_S = 10.0
#: A connection that sends nothing for this long is closed (ROB-4). Players only send acks,
#: so this applies to connections that are neither playing nor publishing, and to publishers.
IDLE_TIMEOUT_S = 60.0
#: Largest message we assemble. The wire field allows 0xFFFFFF; we accept all of it (CH-19:
#: a 2 MB keyframe must pass; nginx's 1 MB default breaks 1080p).
MAX_MESSAGE_LENGTH = 0xFFFFFF
#: Distinct chunk streams a peer may use (ROB-3; nginx's 32 is too low, CH-4).
MAX_CHUNK_STREAMS = 4096
#: Chunk streams holding a half-assembled message at once (ROB-1).
MAX_OPEN_MESSAGES = 64
#: Bytes parked in half-assembled messages per connection (ROB-1: no 1000 x 16 MB).
MAX_PARTIAL_BYTES = 32 * 1024 * 1024
#: Incoming chunk size bounds. 1 is legal (CH-15); above 0xFFFFFF is equivalent to 0xFFFFFF.
MIN_IN_CHUNK_SIZE = 1
MAX_IN_CHUNK_SIZE = 0x7FFFFFFF
#: AMF nesting depth in commands and metadata (AMF-5).
MAX_AMF_DEPTH = 32
#: Our outgoing chunk size, announced right after connect (CH-17: nginx and lal use 4096).
OUT_CHUNK_SIZE = 4096
#: Window Acknowledgement Size we announce (CTRL-1; 2.5 MB like SRS).
WINDOW_ACK_SIZE = 2_500_000
#: Set Peer Bandwidth we announce, limit type Dynamic like every server studied (CTRL-3).
PEER_BANDWIDTH = 2_500_000
#: GOP cache bounds (GOP-5): past either, the cache is dropped until the next keyframe.
GOP_MAX_FRAMES = 1024
GOP_MAX_BYTES = 32 * 1024 * 1024
#: Players' writes held after a publisher read before they are sent (ms): 0 sends at the end of
#: each read (no added latency); a window lets one send carry several reads, at the cost of up to
#: that much latency (bench/compare.py measures both; the p99 goal at 100 players is 2 ms).
WRITE_COALESCE_MS = 0.0
#: Players of one stream from which the compiled fan-out core splits a message's sends over two
#: threads: below it, waking the helper (tens of µs) costs more than the sends it takes over
#: (~12 µs each on loopback, bench/compare.py).
FANOUT_SPLIT_MIN = 16
#: A player whose unsent bytes exceed this drops to the next keyframe (GOP-8).
PLAYER_QUEUE_BYTES = 4 * 1024 * 1024
#: ... and resumes once its backlog is below this.
PLAYER_RESUME_BYTES = 256 * 1024
#: Streams per connection (createStream calls), so a peer cannot allocate without bound.
MAX_STREAMS_PER_CONNECTION = 16
#: Stream name length limit (ROB-7).
MAX_STREAM_NAME = 256
