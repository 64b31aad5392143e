// Error codes of the API and the socket (docs/protocol.md), in words a person understands.

const SENTENCES = {
  private_account: "This account is private: only people it approved as followers can watch its lives.",
  blocked: "You can't watch this live.",
  request_pending: "This came as a message request. Accept the request to watch the live.",
  request_declined: "You declined this message request, so its lives can't be watched.",
  live_ended: "The video is over.",
  live_not_found: "This live doesn't exist, or isn't available to you.",
  live_not_ready: "The live is starting: its video isn't there yet. Trying again…",
  live_full: "This live is full.",
  sharing_off: "The host turned sharing off for this live.",
  not_viewer: "You can only share a live you're watching or were sent.",
  not_host: "Only the host can do that.",
  user_not_found: "This account isn't available.",
  thread_not_found: "This conversation doesn't exist.",
  not_member: "You're not in this conversation.",
  self_follow: "You can't follow yourself.",
  self_block: "You can't block yourself.",
  self_message: "You can't message yourself.",
  group_full: "This group is full.",
  no_targets: "Choose at least one person or group.",
  too_many_targets: "That's too many people at once (100 at most).",
  text_too_long: "That message is too long.",
  empty_text: "Write something first.",
  rate_limited: "Slow down a little, then try again.",
  comments_off: "The host turned comments off.",
  removed_by_host: "The host removed you from this live.",
  already_requested: "You already asked to join. Waiting for the host…",
  guests_full: "The broadcast is full: no more guests can join.",
  already_guest: "You're already in the broadcast.",
  publisher_lost: "Your video connection to the server was lost.",
  joins_off: "The host isn't taking join requests.",
  missing_token: "Please sign in.",
  invalid_token: "That token isn't valid. Please sign in again.",
  token_expired: "Your session expired. Please sign in again.",
  bad_user_id: "Names are 1-32 characters: a-z, 0-9, '_', '.', '-', starting with a letter or digit.",
  codec_unsupported: "Your browser can't play this live's video format.",
  unavailable: "The server is busy. Try again in a moment.",
  network: "The server can't be reached. Check your connection.",
  disconnected: "Connection lost. Reconnecting…",
  timeout: "The server took too long to answer.",
  camera_denied: "Camera and microphone access was refused. Allow it in the browser to go live.",
  camera_missing: "No camera or microphone was found.",
  payload_too_large: "That file is too big to send (100 MB at most).",
  unsupported_media_type: "Only photos and videos can be sent.",
  bad_media: "That file can't be read as a photo or a video.",
  truncated_upload: "The file didn't arrive whole. Try again.",
  post_not_found: "This post was removed.",
};

export class AppError extends Error {
  constructor(code, message, status = 0) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

export function sentence(error) {
  if (!error) return "";
  const code = error.code || "";
  if (SENTENCES[code]) return SENTENCES[code];
  if (error.message) return error.message;
  return `Something went wrong (${code || "unknown"}).`;
}
