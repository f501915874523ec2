#include "ReverieSession.h"

#include "Async/Async.h"
#include "HAL/Event.h"
#include "HAL/PlatformProcess.h"
#include "HAL/RunnableThread.h"
#include "ReverieModule.h"

TSharedPtr<FReverieSession, ESPMode::ThreadSafe> FReverieSession::Create(const FString& ClientName)
{
	const FTCHARToUTF8 Name(*ClientName.Left(64));
	reverie_config Config;
	reverie_config_init(&Config);
	Config.client_name = Name.Get();
	Config.flags = REVERIE_CONNECT_LAZY; // say hello on the first frame, daemon or not
	reverie_client* NewClient = nullptr;
	const reverie_result Result = reverie_connect(&Config, &NewClient);
	if (Result != REVERIE_OK)
	{
		UE_LOG(LogReverie, Error, TEXT("Reverie is off: reverie_connect failed (%s): %s"),
			   UTF8_TO_TCHAR(reverie_result_name(Result)), *LastError());
		return nullptr;
	}
	TSharedPtr<FReverieSession, ESPMode::ThreadSafe> Session = MakeShareable(new FReverieSession(NewClient));
	Session->WakeUp = FPlatformProcess::GetSynchEventFromPool(false);
	Session->Thread = FRunnableThread::Create(Session.Get(), TEXT("ReverieSteering"), 0, TPri_BelowNormal);
	Session->TickerHandle = FTSTicker::GetCoreTicker().AddTicker(
		FTickerDelegate::CreateSP(Session.ToSharedRef(), &FReverieSession::PollEvents), 0.1f);
	return Session;
}

FReverieSession::FReverieSession(reverie_client* InClient) : Client(InClient) {}

FReverieSession::~FReverieSession()
{
	Shutdown();
}

void FReverieSession::Shutdown()
{
	if (TickerHandle.IsValid())
	{
		FTSTicker::GetCoreTicker().RemoveTicker(TickerHandle);
		TickerHandle.Reset();
	}
	if (Thread)
	{
		Stop();
		Thread->WaitForCompletion(); // at most one steering call's timeout (2 s)
		delete Thread;
		Thread = nullptr;
	}
	if (WakeUp)
	{
		FPlatformProcess::ReturnSynchEventToPool(WakeUp);
		WakeUp = nullptr;
	}
	if (Client)
	{
		reverie_close(Client); // says bye to the daemon (at most 500 ms)
		Client = nullptr;
	}
}

uint32 FReverieSession::Run()
{
	while (!bStopping)
	{
		TFunction<void()> Job;
		while (!bStopping && Jobs.Dequeue(Job))
		{
			Job();
		}
		WakeUp->Wait(100);
	}
	return 0;
}

void FReverieSession::Stop()
{
	bStopping = true;
	if (WakeUp)
	{
		WakeUp->Trigger();
	}
}

void FReverieSession::Enqueue(TFunction<void()> Job)
{
	if (!bStopping)
	{
		Jobs.Enqueue(MoveTemp(Job));
		WakeUp->Trigger();
	}
}

FString FReverieSession::LastError()
{
	return UTF8_TO_TCHAR(reverie_last_error(nullptr)); // per thread: call right after the failure
}

void FReverieSession::ReplyOnGameThread(FReplyFn OnReply, reverie_result Result, FString Reply)
{
	if (Result < 0)
	{
		UE_LOG(LogReverie, Warning, TEXT("%s"), *Reply);
	}
	if (OnReply)
	{
		AsyncTask(ENamedThreads::GameThread, [OnReply = MoveTemp(OnReply), Result, Reply = MoveTemp(Reply)]()
				  { OnReply(Result, Reply); });
	}
}

void FReverieSession::SetPrompt(const FString& Text, int32 TransitionFrames, FReplyFn OnReply)
{
	Enqueue([this, Text, TransitionFrames, OnReply = MoveTemp(OnReply)]() mutable
			{
				const reverie_result R = reverie_set_prompt(Client, TCHAR_TO_UTF8(*Text), TransitionFrames);
				ReplyOnGameThread(MoveTemp(OnReply), R,
								  R == REVERIE_OK ? FString::Printf(TEXT("prompt: %s"), *Text)
												  : TEXT("error: ") + LastError());
			});
}

void FReverieSession::SetSteps(int32 Steps, FReplyFn OnReply)
{
	Enqueue([this, Steps, OnReply = MoveTemp(OnReply)]() mutable
			{
				const reverie_result R = reverie_set_params(Client, Steps, REVERIE_KEEP, REVERIE_KEEP);
				ReplyOnGameThread(MoveTemp(OnReply), R,
								  R == REVERIE_OK ? FString::Printf(TEXT("steps: %d"), Steps) : TEXT("error: ") + LastError());
			});
}

void FReverieSession::SetStrength(double Strength, FReplyFn OnReply)
{
	Enqueue([this, Strength, OnReply = MoveTemp(OnReply)]() mutable
			{
				const reverie_result R = reverie_set_params(Client, REVERIE_KEEP, Strength, REVERIE_KEEP);
				ReplyOnGameThread(MoveTemp(OnReply), R,
								  R == REVERIE_OK ? FString::Printf(TEXT("strength: %.2f"), Strength)
												  : TEXT("error: ") + LastError());
			});
}

void FReverieSession::ConsoleExec(const FString& Line, FReplyFn OnReply)
{
	Enqueue([this, Line, OnReply = MoveTemp(OnReply)]() mutable
			{
				TArray<ANSICHAR> Reply;
				Reply.SetNumZeroed(REVERIE_CONSOLE_REPLY_CAP);
				const reverie_result R = reverie_console_exec(Client, TCHAR_TO_UTF8(*Line), Reply.GetData(), Reply.Num());
				// The reply is the daemon's console text, "error: ..." for failures, as `reverie console` prints it.
				FString Text = UTF8_TO_TCHAR(Reply.GetData());
				if (Text.IsEmpty() && R < 0)
				{
					Text = TEXT("error: ") + LastError();
				}
				ReplyOnGameThread(MoveTemp(OnReply), R, MoveTemp(Text));
			});
}

void FReverieSession::ListPresets(TFunction<void(reverie_result, const TArray<FReveriePreset>&)> OnPresets)
{
	Enqueue([this, OnPresets = MoveTemp(OnPresets)]() mutable
			{
				TArray<reverie_preset> Raw;
				Raw.SetNumZeroed(32);
				size_t Count = 0;
				const reverie_result R = reverie_list_presets(Client, Raw.GetData(), Raw.Num(), &Count);
				TArray<FReveriePreset> Presets;
				for (size_t I = 0; R == REVERIE_OK && I < Count && I < static_cast<size_t>(Raw.Num()); ++I)
				{
					Presets.Add({UTF8_TO_TCHAR(Raw[I].name), UTF8_TO_TCHAR(Raw[I].prompt)});
				}
				AsyncTask(ENamedThreads::GameThread, [OnPresets = MoveTemp(OnPresets), R, Presets = MoveTemp(Presets)]()
						  { OnPresets(R, Presets); });
			});
}

bool FReverieSession::PollEvents(float /*DeltaTime*/)
{
	if (!Client)
	{
		return false;
	}
	reverie_event Event;
	for (int32 Drained = 0; Drained < 64 && reverie_poll_event(Client, &Event) == REVERIE_OK; ++Drained)
	{
		FString Notice;
		switch (Event.type)
		{
		case REVERIE_EVENT_STATS:
			Stats.bHaveStats = true;
			Stats.Fps = Event.fps;
			Stats.LatencyP50Ms = Event.latency_p50_ms;
			Stats.LatencyP95Ms = Event.latency_p95_ms;
			Stats.Frames = Event.frames;
			Stats.Dropped = Event.dropped;
			Stats.Failed = Event.failed;
			break;
		case REVERIE_EVENT_PROMPT_CHANGED:
			Notice = FString::Printf(TEXT("prompt: %s"), UTF8_TO_TCHAR(Event.text));
			break;
		case REVERIE_EVENT_PARAMS_CHANGED:
			Notice = FString::Printf(TEXT("steps %d, strength %.2f, seed %lld"), Event.steps, Event.strength,
									 static_cast<long long>(Event.seed));
			break;
		case REVERIE_EVENT_SESSION_CLOSED:
			Notice = FString::Printf(TEXT("session of %s closed: %s"), UTF8_TO_TCHAR(Event.client), UTF8_TO_TCHAR(Event.text));
			break;
		case REVERIE_EVENT_ERROR:
			Notice = FString::Printf(TEXT("daemon error: %s"), UTF8_TO_TCHAR(Event.text));
			break;
		case REVERIE_EVENT_FRAME_FAILED:
			// Every frame fails the same way when it fails (e.g. NaN depth): say it once a session.
			if (!bReportedFrameFailure)
			{
				Notice = FString::Printf(TEXT("frame %llu failed: %s"), static_cast<unsigned long long>(Event.frame_id),
										 UTF8_TO_TCHAR(Event.text));
				bReportedFrameFailure = true;
			}
			break;
		case REVERIE_EVENT_DISCONNECTED:
			Stats = FReverieStats();
			Notice = FString::Printf(TEXT("disconnected: %s"), UTF8_TO_TCHAR(Event.text));
			break;
		case REVERIE_EVENT_CONNECTED:
			Stats = FReverieStats();
			Stats.bConnected = true;
			bReportedFrameFailure = false;
			Notice = TEXT("connected to the Reverie daemon");
			break;
		default:
			break; // session_opened (our own hello) and types added later
		}
		if (!Notice.IsEmpty())
		{
			UE_LOG(LogReverie, Log, TEXT("%s"), *Notice);
			OnNotice.Broadcast(Notice);
		}
	}
	return true; // keep ticking
}
