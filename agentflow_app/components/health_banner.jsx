// A banner over every page while /api/health says something is wrong (Redis or the
// database unreachable, the data disk full), gone by itself once all is well again.
//
// It asks the server over plain HTTP, not through Reflex's state: Reflex keeps each tab's
// state in Redis, so while Redis is away no state update could show the banner at all.
import React, { useEffect, useState } from "react";
import env from "$/env.json";
import { getBackendURL } from "$/utils/state";

function healthURL() {
  const url = getBackendURL(env.PING);
  url.pathname = "/api/health";
  return url.toString();
}

export function HealthBanner({ everyMs = 3000, children }) {
  const [problem, setProblem] = useState("");
  useEffect(() => {
    let stopped = false;
    let timer = null;
    const check = async () => {
      let next = "";
      try {
        const answer = await fetch(healthURL(), { cache: "no-store" });
        const body = await answer.json();
        if (body.status !== "ok") {
          next = body.detail || "Some of AgentFlow's services are unavailable.";
        }
      } catch (error) {
        next = "The AgentFlow server cannot be reached; trying again.";
      }
      if (!stopped) {
        setProblem(next);
        timer = setTimeout(check, everyMs);
      }
    };
    check();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [everyMs]);
  return (
    <>
      {problem && (
        <div
          role="alert"
          data-testid="health-banner"
          style={{
            position: "fixed",
            top: 0,
            left: "50%",
            transform: "translateX(-50%)",
            zIndex: 1000,
            maxWidth: "48em",
            padding: "0.5em 1em",
            borderRadius: "0 0 var(--radius-3) var(--radius-3)",
            background: "var(--amber-3)",
            color: "var(--amber-12)",
            border: "1px solid var(--amber-7)",
            borderTop: "none",
            fontSize: "var(--font-size-2)",
            boxShadow: "var(--shadow-3)",
          }}
        >
          {problem}
        </div>
      )}
      {children}
    </>
  );
}
