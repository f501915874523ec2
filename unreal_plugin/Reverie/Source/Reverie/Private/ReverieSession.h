// One libreverie client and the threads that may use it. libreverie splits its calls into
// three groups that never wait for each other (reverie.h, "Threads"):
//   - FRAME calls (begin/submit frame, outputs) run on the render thread, from the view
//     extension, through GetClient();
//   - STEER calls (prompt, params, presets, console lines) block until the daemon answers,
//     so they run here on a steering thread of their own, never on the game thread;
//   - EVENT polling (stats, prompt changes) runs on the game thread from a core ticker and
//     never blocks.
#pragma once

#include "CoreMinimal.h"
#include "Containers/Queue.h"
#include "HAL/Runnable.h"
#include "Containers/Ticker.h"
#include "ReverieCApi.h"

#include <atomic>

class FRunnableThread;
class FEvent;

// What the last stats event said, for the prompt console's live line.
struct FReverieStats
{
	bool bConnected = false;   // this game holds a session with the daemon
	bool bHaveStats = false;   // a stats event arrived since the session opened
	double Fps = 0.0;
	double LatencyP50Ms = -1.0;
	double LatencyP95Ms = -1.0;
	uint64 Frames = 0;
	uint64 Dropped = 0;
	uint64 Failed = 0;
};

// A preset as the console shows it.
struct FReveriePreset
{
	FString Name;
	FString Prompt;
};

class FReverieSession : public FRunnable, public TSharedFromThis<FReverieSession, ESPMode::ThreadSafe>
{
public:
	// Creates the client lazily (no daemon needed yet) and starts the steering thread.
	// Returns null, with the library's reason in the log, when the client cannot be made.
	static TSharedPtr<FReverieSession, ESPMode::ThreadSafe> Create(const FString& ClientName);
	virtual ~FReverieSession() override;

	// Stops the threads and closes the client. The render thread must be done with the
	// client (FlushRenderingCommands) before this is called.
	void Shutdown();

	// For the render thread's FRAME calls only.
	reverie_client* GetClient() const { return Client; }

	// STEER calls, queued to the steering thread. OnReply (optional) runs on the game thread
	// with the result and the text to show ("" when there is nothing to say).
	using FReplyFn = TFunction<void(reverie_result Result, const FString& Reply)>;
	void SetPrompt(const FString& Text, int32 TransitionFrames, FReplyFn OnReply = nullptr);
	void SetSteps(int32 Steps, FReplyFn OnReply = nullptr);
	void SetStrength(double Strength, FReplyFn OnReply = nullptr);
	// One line of the `reverie console` language (plain text = prompt, /preset, /steps, ...).
	void ConsoleExec(const FString& Line, FReplyFn OnReply);
	void ListPresets(TFunction<void(reverie_result Result, const TArray<FReveriePreset>& Presets)> OnPresets);

	// Game thread: the newest stats, and daemon notices (prompt changes, errors, connection
	// changes) as text; the prompt console subscribes to notices while it is open.
	const FReverieStats& GetStats() const { return Stats; }
	DECLARE_MULTICAST_DELEGATE_OneParam(FOnNotice, const FString&);
	FOnNotice OnNotice;

	// FRunnable: the steering thread.
	virtual uint32 Run() override;
	virtual void Stop() override;

private:
	explicit FReverieSession(reverie_client* InClient);
	void Enqueue(TFunction<void()> Job);
	bool PollEvents(float DeltaTime);
	static FString LastError();
	static void ReplyOnGameThread(FReplyFn OnReply, reverie_result Result, FString Reply);

	reverie_client* Client = nullptr;
	TQueue<TFunction<void()>, EQueueMode::Mpsc> Jobs;
	FEvent* WakeUp = nullptr;
	FRunnableThread* Thread = nullptr;
	std::atomic<bool> bStopping{false};
	FTSTicker::FDelegateHandle TickerHandle;
	FReverieStats Stats;
	bool bReportedFrameFailure = false;
};
