// WHIP/WHEP client for the browser tests, loaded into a page served by the directlive server
// (so every fetch is same-origin). Non-trickle: each offer is POSTed once ICE gathering is done.
"use strict";

window.directlive = (() => {
  const state = {
    publisher: null,
    viewer: null,
    stream: null,
    firstFrame: null,
    sampler: null,
    stats: { framesDecoded: 0, audioPackets: 0, firstDecodedAt: null },
  };

  function gatheringComplete(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("ICE gathering timed out")), timeoutMs);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  function candidates(sdp) {
    return sdp.split("\r\n").filter((line) => line.startsWith("a=candidate:"));
  }

  async function exchange(pc, url, token) {
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc, 5000);
    const offer = pc.localDescription.sdp;
    const postedAt = performance.now();
    const response = await fetch(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/sdp" },
      body: offer,
    });
    const answer = await response.text();
    if (response.status !== 201) throw new Error(`POST ${url}: ${response.status} ${answer}`);
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    return {
      location: response.headers.get("Location"),
      offer,
      answer,
      postedAt,
      offerCandidates: candidates(offer),
      answerCandidates: candidates(answer),
    };
  }

  // Publish the fake camera and microphone; `videoMime` (e.g. "video/H264") forces a codec,
  // `sendEncodings` (e.g. three rids: real simulcast) goes to the video transceiver.
  async function publish(token, videoMime, sendEncodings) {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: 640, height: 480 },
      audio: true,
    });
    const pc = new RTCPeerConnection({ iceServers: [] });
    state.publisher = pc;
    state.stream = stream;
    for (const track of stream.getTracks()) {
      const init = { direction: "sendonly", streams: [stream] };
      if (track.kind === "video" && sendEncodings) init.sendEncodings = sendEncodings;
      const transceiver = pc.addTransceiver(track, init);
      if (track.kind === "video" && videoMime) {
        const codecs = RTCRtpSender.getCapabilities("video").codecs.filter(
          (c) =>
            c.mimeType.toLowerCase() === videoMime.toLowerCase() &&
            (videoMime.toLowerCase() !== "video/h264" ||
              (/packetization-mode=1/.test(c.sdpFmtpLine || "") &&
                /profile-level-id=42(e0|00)1f/.test(c.sdpFmtpLine || ""))),
        );
        if (codecs.length === 0) throw new Error(`this browser cannot send ${videoMime}`);
        transceiver.setCodecPreferences(codecs);
      }
    }
    return await exchange(pc, "/whip", token);
  }

  async function publisherStats() {
    const out = { packetsSent: 0, codec: null, frameWidth: 0, encodings: [] };
    const stats = await state.publisher.getStats();
    stats.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.encodings.push({
          rid: s.rid || null,
          packetsSent: s.packetsSent,
          frameWidth: s.frameWidth || 0,
          active: s.active,
        });
        out.packetsSent = s.packetsSent;
        out.frameWidth = s.frameWidth || 0;
        out.codec = s.codecId ? stats.get(s.codecId).mimeType : null;
      }
    });
    return out;
  }

  // Watch `liveId` into a muted <video>; resolves once the answer is applied.
  async function watch(token, liveId) {
    const video = document.createElement("video");
    video.id = "viewer";
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    document.body.appendChild(video);
    const pc = new RTCPeerConnection({ iceServers: [] });
    state.viewer = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const remote = new MediaStream();
    video.srcObject = remote;
    pc.ontrack = (event) => remote.addTrack(event.track);
    const startedAt = performance.now();
    state.firstFrame = new Promise((resolve) => {
      video.requestVideoFrameCallback(() => resolve(performance.now()));
    });
    state.sampler = setInterval(() => sampleViewer().catch(() => {}), 50);
    const result = await exchange(pc, `/whep/${encodeURIComponent(liveId)}`, token);
    video.play().catch(() => {});
    return { ...result, startedAt };
  }

  // performance.now() when the <video> presented its first frame.
  function firstFrame(timeoutMs) {
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error("no video frame presented")), timeoutMs),
    );
    return Promise.race([state.firstFrame, timeout]);
  }

  // Samples the viewer's state every 50 ms, so page.wait_for_function can poll it synchronously.
  async function sampleViewer() {
    const video = document.getElementById("viewer");
    const out = {
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
      framesDecoded: 0,
      audioPackets: 0,
      codec: null,
      connectionState: state.viewer.connectionState,
      firstDecodedAt: state.stats.firstDecodedAt,
    };
    const stats = await state.viewer.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        out.framesDecoded = s.framesDecoded || 0;
        out.codec = s.codecId ? stats.get(s.codecId).mimeType : null;
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioPackets = s.packetsReceived;
    });
    if (out.framesDecoded > 0 && out.firstDecodedAt === null) out.firstDecodedAt = performance.now();
    state.stats = out;
  }

  function viewerStats() {
    return state.stats;
  }

  function close() {
    clearInterval(state.sampler);
    for (const pc of [state.publisher, state.viewer]) if (pc) pc.close();
    if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  }

  // The video sender's encodings as Chromium applies them after negotiation.
  function publisherEncodings() {
    const sender = state.publisher.getSenders().find((s) => s.track && s.track.kind === "video");
    return sender.getParameters().encodings.map((e) => ({
      rid: e.rid || null,
      active: e.active,
      scaleResolutionDownBy: e.scaleResolutionDownBy || null,
    }));
  }

  // Asks the video sender to keep its resolution under CPU or bandwidth pressure (drop frames
  // instead), so a test can tell which encoding arrives by its size.
  async function keepResolution() {
    const sender = state.publisher.getSenders().find((s) => s.track && s.track.kind === "video");
    const parameters = sender.getParameters();
    parameters.degradationPreference = "maintain-resolution";
    await sender.setParameters(parameters);
    return sender.getParameters().degradationPreference || null;
  }

  return { publish, publisherStats, publisherEncodings, keepResolution, watch, firstFrame, viewerStats, close };
})();
