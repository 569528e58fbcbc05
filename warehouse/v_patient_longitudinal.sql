-- Each session of each patient against the patient's own baseline (the mean of their first two
-- sessions), with a rolling mean over the last three sessions, the change since baseline, a
-- per-patient trend (least-squares slope of valence per session) and change flags.
with ordered as (
    select
        *,
        row_number() over (partition by patient_id order by coalesce(recorded_at, processed_at), session_id) as session_index
    from v_session_summary
),

baseline as (
    select
        patient_id,
        avg(valence_mean) as baseline_valence,
        avg(arousal_mean) as baseline_arousal,
        avg(expressivity_mean) as baseline_expressivity,
        avg(speaking_time_s / nullif(duration_s, 0)) as baseline_speaking_share
    from ordered
    where session_index <= 2
    group by patient_id
),

compared as (
    select
        o.patient_id,
        o.session_index,
        o.session_id,
        o.recorded_at,
        o.site,
        o.trial_arm,
        o.clinician_id,
        o.dominant_emotion,
        o.valence_mean,
        round(b.baseline_valence, 3) as baseline_valence,
        round(o.valence_mean - b.baseline_valence, 3) as valence_change,
        round(avg(o.valence_mean) over w3, 3) as valence_rolling3,
        o.arousal_mean,
        round(o.arousal_mean - b.baseline_arousal, 3) as arousal_change,
        o.expressivity_mean,
        round(o.expressivity_mean - b.baseline_expressivity, 3) as expressivity_change,
        round(o.speaking_time_s / nullif(o.duration_s, 0), 3) as speaking_share,
        round(o.speaking_time_s / nullif(o.duration_s, 0) - b.baseline_speaking_share, 3) as speaking_share_change,
        o.face_coverage,
        o.speech_coverage,
        round(regr_slope(o.valence_mean, o.session_index) over (partition by o.patient_id), 4) as valence_trend_per_session,
        count(*) over (partition by o.patient_id) as n_sessions,
        count(*) over w3 as n_in_rolling3
    from ordered as o
    join baseline as b using (patient_id)
    window w3 as (partition by o.patient_id order by o.session_index rows between 2 preceding and current row)
),

final as (
    select
        * exclude (n_in_rolling3),
        -- the last three sessions (after the baseline) all sit clearly below the patient's baseline valence
        (session_index >= 3 and n_in_rolling3 = 3
            and max(valence_change) over (partition by patient_id order by session_index rows between 2 preceding and current row) < -0.15)
            as flag_sustained_negative_shift,
        -- the patient speaks much less, or shows much less facial expression, than at baseline
        (session_index >= 3 and (speaking_share_change < -0.2 or expressivity_change < -0.15))
            as flag_falling_engagement
    from compared
)

select * from final
order by patient_id, session_index
